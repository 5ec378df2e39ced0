"""Replacing a file atomically, and leaving no temporary file behind.

A save writes a temporary file in the target's folder, fsyncs it and renames it
over the target, so a crash at any moment leaves the old file or the new one.
Where the OS offers anonymous files (Linux O_TMPFILE), the temporary file gets
a name only once it is complete, just before the rename: a writer killed
while writing leaves nothing. Elsewhere (or where the file system has no
anonymous files) it is named from the start, `.<target>.<16 hex>.tmp`, and
each writer holds an exclusive lock on its file while it lives; the next save
to the same target removes the files of dead writers (those nobody locks).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from . import _core

try:
    import fcntl
except ImportError:  # no advisory locks (Windows): dead writers' files cannot be told from live ones
    fcntl = None  # type: ignore[assignment]

# O_TMPFILE (Linux 3.11+); 0 where the OS has none.
ANONYMOUS_FLAG = getattr(os, "O_TMPFILE", 0)
_TOKEN_BYTES = 8  # 16 hex digits: names of concurrent writers never collide
_SUFFIX = ".tmp"
_NEW_FILE_MODE = 0o666  # filtered by the umask, like any new file (mkstemp would force 0o600)


# File names are at most 255 bytes on common file systems; a target name too
# long to carry the temporary parts is shortened to its start and a digest.
_MAX_NAME_BYTES = 255
_OVERHEAD_BYTES = len(f"..{'0' * 2 * _TOKEN_BYTES}{_SUFFIX}")
_KEPT_CHARACTERS = 40  # of a long name: at most 160 bytes in UTF-8
_DIGEST_BYTES = 16


def _stem(target_name: str) -> str:
    """The part of a temporary file's name that says which target it is for."""
    if len(os.fsencode(target_name)) + _OVERHEAD_BYTES <= _MAX_NAME_BYTES:
        return target_name
    digest = hashlib.blake2b(os.fsencode(target_name), digest_size=_DIGEST_BYTES).hexdigest()
    return f"{target_name[:_KEPT_CHARACTERS]}~{digest}"


def _temporary_path(folder: str, target_name: str) -> str:
    return os.path.join(folder, f".{_stem(target_name)}.{secrets.token_hex(_TOKEN_BYTES)}{_SUFFIX}")


def is_temporary_of(name: str, target_name: str) -> bool:
    """True for a name `_temporary_path` gives for this target."""
    prefix = f".{_stem(target_name)}."
    if not (name.startswith(prefix) and name.endswith(_SUFFIX)):
        return False
    token = name[len(prefix) : -len(_SUFFIX)]
    return len(token) == 2 * _TOKEN_BYTES and all(c in "0123456789abcdef" for c in token)


def _lock(fd: int, wait: bool) -> bool:
    """Takes the exclusive lock on an open file; False if `wait` is off and someone holds it."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _names(path: str, fd: int) -> bool:
    """True if `path` still names the file open as `fd`."""
    try:
        return os.path.samestat(os.stat(path, follow_symlinks=False), os.fstat(fd))
    except FileNotFoundError:
        return False


def remove_abandoned(folder: str, target_name: str) -> int:
    """Removes the temporary files that dead writers left for this target; returns how many."""
    if fcntl is None:
        return 0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    removed = 0
    for name in names:
        if not is_temporary_of(name, target_name):
            continue
        path = os.path.join(folder, name)
        try:
            # Only regular files, opened without blocking (a FIFO would block)
            # and for writing (NFS grants exclusive locks only to writers).
            if not stat.S_ISREG(os.lstat(path).st_mode):
                continue
            fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue  # gone already, or not ours to touch
        try:
            # A live writer holds its lock until its file is renamed or removed.
            if stat.S_ISREG(os.fstat(fd).st_mode) and _lock(fd, wait=False) and _names(path, fd):
                os.unlink(path)
                removed += 1
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


class TemporaryFile:
    """A locked temporary file in `folder` that `replace` renames over a target.

    Example:
        >>> with TemporaryFile(folder, "index.vsx") as tmp:   # doctest: +SKIP
        ...     os.write(tmp.fd, data)
        ...     tmp.replace(os.path.join(folder, "index.vsx"))
    """

    def __init__(self, folder: str, target_name: str) -> None:
        self.folder, self.target_name = folder, target_name
        self.path: str | None = None  # None while the file is anonymous
        self.fd = self._open_anonymous() if ANONYMOUS_FLAG else -1
        if self.fd < 0:
            self.fd, self.path = self._open_named()

    def _open_anonymous(self) -> int:
        try:
            fd = os.open(self.folder, ANONYMOUS_FLAG | os.O_RDWR, _NEW_FILE_MODE)
        except OSError:  # a file system without anonymous files (e.g. NFS)
            return -1
        _lock(fd, wait=True)
        return fd

    def _open_named(self) -> tuple[int, str]:
        while True:
            path = _temporary_path(self.folder, self.target_name)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), _NEW_FILE_MODE)
            _lock(fd, wait=True)
            if _names(path, fd):
                return fd, path
            # Another save took the unlocked new file for a dead writer's and
            # removed it: take another name.
            os.close(fd)

    def _give_name(self) -> None:
        """Links the complete anonymous file into the folder, or copies it into a named one."""
        path = _temporary_path(self.folder, self.target_name)
        try:
            _core.link_anonymous_file(self.fd, path)
            self.path = path
            return
        except OSError:
            pass  # the OS cannot name it here: copy it, in the kernel
        fd, path = self._open_named()
        try:
            _copy(self.fd, fd)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise
        os.close(self.fd)
        self.fd, self.path = fd, path

    def replace(self, target: str) -> None:
        """Makes the (fsynced) file durable and renames it over `target`."""
        os.fsync(self.fd)
        if self.path is None:
            self._give_name()
        os.replace(self.path, target)
        self.path = None

    def close(self) -> None:
        """Removes the file unless `replace` took it, and releases it."""
        if self.path is not None:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            self.path = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "TemporaryFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _copy(source: int, target: int) -> None:
    size = os.fstat(source).st_size
    offset = 0
    while offset < size:
        sent = os.sendfile(target, source, offset, size - offset)
        if sent == 0:
            raise OSError(f"copying the temporary file stopped at byte {offset} of {size}")
        offset += sent
