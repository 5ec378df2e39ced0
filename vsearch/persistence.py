"""Saving and loading indexes: atomic writes, validating reads, memory maps."""

from __future__ import annotations

import io
import os
import secrets
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from . import _core, _format
from .errors import IndexFormatError

if TYPE_CHECKING:
    from .index import Index

PathLike = str | os.PathLike


def _descriptor(core: Any, layout: dict[str, Any]) -> dict[str, Any]:
    from . import __version__

    return {
        "format_version": [_format.MAJOR, _format.MINOR],
        "library": f"vsearch {__version__}",
        "dim": core.dim,
        "metric": core.metric,
        "metric_params": {},
        "M": core.M,
        "ef_construction": core.ef_construction,
        "ef": core.ef,
        "seed": core.seed,
        **layout,
    }


def write(core: Any, out: IO[bytes]) -> None:
    """Writes the index to a binary stream. Adds wait meanwhile; searches go on."""
    core.lock_mutations()
    try:
        descriptor = _descriptor(core, core.layout())
        prefix, sections = _format.encode(descriptor, core.sections())
        out.write(prefix)
        position = len(prefix)
        for offset, array in sections:
            out.write(bytes(offset - position))
            if array.nbytes:
                out.write(memoryview(np.ascontiguousarray(array)).cast("B"))
            position = offset + array.nbytes
    finally:
        core.unlock_mutations()


def save(core: Any, path: PathLike) -> None:
    """Atomic: a temporary file in the same folder, fsync, then rename over `path`."""
    target = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(target)
    temporary = os.path.join(folder, f".{os.path.basename(target)}.{secrets.token_hex(8)}.tmp")
    # Mode 0o666 filtered by the umask, like any new file (mkstemp would force 0o600).
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(handle, "wb") as out:
            write(core, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: str) -> None:
    """Makes the rename itself durable (where the platform allows opening folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def to_bytes(core: Any) -> bytes:
    out = io.BytesIO()
    write(core, out)
    return out.getvalue()


@dataclass
class MappedFile:
    """The memory-mapped sections under a read-only index, for verify()."""

    path: str
    sections: list[_format.Section]
    arrays: dict[str, np.ndarray]

    def verify_checksums(self) -> None:
        reader = _format.Reader(self.path)
        for section in self.sections:
            reader.check_checksum(section, self.arrays[section.spec.name])


def _restore(buffer: np.ndarray, reader: _format.Reader, *, borrow: bool, check_sums: bool) -> tuple[Any, MappedFile]:
    """Validates the file held in `buffer` (uint8); returns a native index over it and its sections."""
    size = buffer.shape[0]
    length, crc = reader.header(bytes(buffer[: _format.HEADER.size]), size)
    raw = bytes(buffer[_format.HEADER.size : _format.HEADER.size + length])
    d, sections = reader.descriptor(raw, crc, size)
    arrays = {}
    for section in sections:
        arrays[section.spec.name] = _format.section_array(buffer, section)
        if check_sums:
            reader.check_checksum(section, arrays[section.spec.name])
    layout = {key: d[key] for key in ("count", "max_level", "entry_point", "max_id", "upper_blocks", "row_stride")}
    core, section, message = _core.restore(
        d["dim"], d["metric"], d["M"], d["ef_construction"], d["ef"], d["seed"], layout, arrays, borrow
    )
    if core is None:
        raise reader.fail(message, section)
    return core, MappedFile(reader.path or "", sections, arrays)


def load(path: PathLike, *, mmap: bool = False, verify: bool = False) -> tuple[Any, MappedFile | None]:
    """Returns the native index saved at `path` and, with mmap, the mapping behind it."""
    name = os.fspath(path)
    reader = _format.Reader(name)
    if mmap:
        size = os.path.getsize(name)
        if size < _format.HEADER.size:
            raise reader.fail(f"file is {size} bytes, too short for the {_format.HEADER.size}-byte header", "header")
        buffer = np.memmap(name, dtype=np.uint8, mode="r")
        core, mapped = _restore(buffer, reader, borrow=True, check_sums=False)
        if verify:
            verify_core(core, mapped)
        return core, mapped
    with open(name, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        buffer = np.empty(size, dtype=np.uint8)
        if f.readinto(memoryview(buffer)) != size:
            raise reader.fail("the file changed size while being read", "file")
    return _restore(buffer, reader, borrow=False, check_sums=True)[0], None


def from_bytes(data: bytes | bytearray | memoryview) -> Any:
    view = np.frombuffer(data, dtype=np.uint8)
    if view.ctypes.data % _format.SECTION_ALIGNMENT:
        view = view.copy()  # typed section views need aligned memory
    return _restore(view, _format.Reader(None), borrow=False, check_sums=True)[0]


def verify_core(core: Any, mapped: MappedFile | None) -> None:
    """Checksums of a mapped file's sections, then every link and vector."""
    if mapped is not None:
        mapped.verify_checksums()
    problem = core.verify()
    if problem is not None:
        section, message = problem
        raise IndexFormatError(message, path=mapped.path if mapped else None, section=section)


def info(path: PathLike) -> dict[str, Any]:
    """Reads only the header and descriptor (see vsearch.info)."""
    name = os.fspath(path)
    reader = _format.Reader(name)
    with open(name, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(_format.HEADER.size)
        length, crc = reader.header(head, size)
        descriptor, sections = reader.descriptor(f.read(length), crc, size)
    keys = ("dim", "metric", "metric_params", "count", "M", "ef_construction", "ef", "seed", "max_level", "library")
    result = {key: descriptor.get(key) for key in keys}
    result["format_version"] = tuple(descriptor["format_version"])
    result["file_size"] = size
    result["sections"] = [
        {"name": s.spec.name, "offset": s.offset, "length": s.spec.length, "checksum": s.checksum} for s in sections
    ]
    return result
