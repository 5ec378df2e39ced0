// Naming an anonymous file (Linux O_TMPFILE) once it is complete, so that a
// writer killed before then leaves nothing on disk.
#pragma once

namespace vsearch {

// Links the anonymous file open as `fd` at `path` (which must not exist).
// Returns 0, or the errno of the last way tried: linkat(AT_EMPTY_PATH), which
// older kernels allow only to privileged processes, then the /proc/self/fd
// link that open(2) documents. ENOTSUP where the OS has no anonymous files.
int link_anonymous_file(int fd, const char* path);

}  // namespace vsearch
