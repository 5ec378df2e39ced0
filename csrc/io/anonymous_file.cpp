#include "anonymous_file.h"

#include <cerrno>
#include <string>

#if defined(__linux__)
#include <fcntl.h>
#include <unistd.h>
#endif

namespace vsearch {

int link_anonymous_file(int fd, const char* path) {
#if defined(__linux__) && defined(AT_EMPTY_PATH)
    if (linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH) == 0) return 0;
    const std::string self = "/proc/self/fd/" + std::to_string(fd);
    if (linkat(AT_FDCWD, self.c_str(), AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0) return 0;
    return errno;
#else
    (void)fd;
    (void)path;
    return ENOTSUP;
#endif
}

}  // namespace vsearch
