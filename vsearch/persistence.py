"""Saving and loading indexes: atomic writes, validating reads, memory maps."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from . import _atomic_file, _core, _format, _metric_spec
from ._metric_spec import MetricSpec
from .errors import IndexFormatError, InvalidParameterError

PathLike = str | os.PathLike
Target = PathLike | IO[bytes]  # a path, or a binary file object (io.BytesIO, open(path, "rb"/"wb"))


def is_file_object(target: Any, method: str) -> bool:
    """True for an object to call `method` ("read" or "write") on rather than a path."""
    return not isinstance(target, (str, bytes, os.PathLike)) and callable(getattr(target, method, None))


def _binary(stream: Any, mode: str) -> Any:
    if isinstance(stream, io.TextIOBase):
        raise InvalidParameterError(f"a text-mode file cannot hold an index: open it in binary mode ('{mode}b')")
    return stream


def _name(stream: Any) -> str | None:
    """The file a file object reads, to name in errors (None for io.BytesIO)."""
    name = getattr(stream, "name", None)
    return name if isinstance(name, str) else None


def _descriptor(core: Any, spec: MetricSpec, layout: dict[str, Any]) -> dict[str, Any]:
    from . import __version__

    return {
        "format_version": [_format.MAJOR, _format.MINOR],
        "library": f"vsearch {__version__}",
        "dim": core.dim,
        "metric": spec.name,
        "metric_params": spec.descriptor_params(),
        "M": core.M,
        "ef_construction": core.ef_construction,
        "ef": core.ef,
        "seed": core.seed,
        _format.STORAGE_KEY: core.storage,
        _format.CONSOLIDATE_FRACTION_KEY: float(core.consolidate_fraction),
        **layout,
    }


def write(core: Any, spec: MetricSpec, out: IO[bytes]) -> None:
    """Writes the index to a binary stream. Adds wait meanwhile; searches go on."""
    core.lock_mutations()
    try:
        descriptor = _descriptor(core, spec, core.layout())
        prefix, sections = _format.encode(descriptor, {**core.sections(), **spec.extra_sections()})
        out.write(prefix)
        position = len(prefix)
        for offset, array in sections:
            out.write(bytes(offset - position))
            if array.nbytes:
                out.write(memoryview(np.ascontiguousarray(array)).cast("B"))
            position = offset + array.nbytes
    finally:
        core.unlock_mutations()


def save(core: Any, spec: MetricSpec, path: Target) -> None:
    """Atomic: a temporary file in the same folder, fsync, then rename over `path`.

    A save killed at any moment leaves the old file or the new one and, where
    the OS offers anonymous files, no temporary file; elsewhere the next save
    to `path` removes what the killed one left (see _atomic_file). A file
    object gets the same bytes, written at its position (not atomically).
    """
    if is_file_object(path, "write"):
        write(core, spec, _binary(path, "w"))
        return
    target = os.path.abspath(os.fspath(path))
    folder, target_name = os.path.split(target)
    _atomic_file.remove_abandoned(folder, target_name)
    try:
        temporary = _atomic_file.TemporaryFile(folder, target_name)
    except OSError as error:  # name what the user asked for, not the hidden temporary file
        raise type(error)(error.errno, f"cannot save there: {error.strerror}", target) from None
    with temporary:
        with open(temporary.fd, "wb", closefd=False) as out:
            write(core, spec, out)
        temporary.replace(target)
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


def to_bytes(core: Any, spec: MetricSpec) -> bytes:
    out = io.BytesIO()
    write(core, spec, out)
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


def _read_descriptor(reader: _format.Reader, read: Any, size: int) -> tuple[dict[str, Any], list[_format.Section]]:
    """Header and descriptor through `read(offset, length) -> bytes`."""
    length, crc = reader.header(read(0, _format.HEADER.size), size)
    return reader.descriptor(read(_format.HEADER.size, length), crc, size)


_LAYOUT_KEYS = ("count", "max_level", "entry_point", "max_id", "upper_blocks")


def _layout(d: dict[str, Any]) -> dict[str, Any]:
    """What the core needs of a checked descriptor to restore or map the index."""
    return {**{key: d[key] for key in _LAYOUT_KEYS}, "has_states": _format.has_slot_states(d)}


def _apply_settings(core: Any, d: dict[str, Any]) -> Any:
    """The saved settings that are not index parameters (version 2 files)."""
    if _format.has_slot_states(d):
        core.consolidate_fraction = d[_format.CONSOLIDATE_FRACTION_KEY]
    return core


def _metric(reader: _format.Reader, d: dict[str, Any], sections: list[_format.Section], read: Any,
            metric: Any) -> MetricSpec:
    """The saved metric; `read(section) -> bytes` gives a (small) metric section."""
    weights = None
    for section in sections:
        if section.spec.name == _format.GSSF_SECTION:
            raw = np.frombuffer(read(section), dtype=section.spec.dtype)
            reader.check_checksum(section, raw)
            if not np.isfinite(raw).all():
                raise reader.fail("GSSF weights must be finite", section.spec.name)
            weights = raw
    return _metric_spec.from_file(d, weights, metric)


def _params(d: dict[str, Any], spec: MetricSpec) -> Any:
    return _core.make_params(
        d["dim"], d["metric"], d["M"], d["ef_construction"], d["ef"], d["seed"], **spec.native_args(),
        storage=_format.storage_of(d),
    )


def _index_sections(sections: list[_format.Section]) -> list[_format.Section]:
    return [s for s in sections if s.spec.name != _format.GSSF_SECTION]


def _fill_and_finish(reader: _format.Reader, d: dict[str, Any], sections: list[_format.Section], fill: Any,
                     spec: MetricSpec) -> Any:
    """Allocates a native index for the descriptor, lets `fill(section, array)`
    write each section into it, checks checksums, then validates the graph."""
    layout = _layout(d)
    core = _core.allocate_restore(_params(d, spec), layout)
    targets = core.writable_sections(layout)
    for section in _index_sections(sections):
        target = targets[section.spec.name].reshape(-1).view(np.uint8)
        fill(section, target)
        reader.check_checksum(section, target)
    problem = core.finish_restore(layout)
    if problem is not None:
        raise reader.fail(problem[1], problem[0])
    return _apply_settings(core, d)


def load(
    path: Target, *, mmap: bool = False, verify: bool = False, metric: Any = None
) -> tuple[Any, MetricSpec, MappedFile | None]:
    """Returns the native index saved at `path` (or read from a binary file
    object, from its position to its end), its metric and, with mmap, the mapping behind it."""
    if is_file_object(path, "read"):
        if mmap:
            raise InvalidParameterError(
                "mmap=True needs a path: a file object cannot be memory-mapped; pass the file's path, "
                "or load without mmap"
            )
        stream = _binary(path, "r")
        return (*_read_stream(_format.Reader(_name(stream)), stream, metric), None)
    name = os.fspath(path)
    reader = _format.Reader(name)
    if mmap:
        size = os.path.getsize(name)
        if size < _format.HEADER.size:
            raise reader.fail(f"file is {size} bytes, too short for the {_format.HEADER.size}-byte header", "header")
        buffer = np.memmap(name, dtype=np.uint8, mode="r")
        d, sections = _read_descriptor(reader, lambda offset, length: bytes(buffer[offset : offset + length]), size)
        spec = _metric(reader, d, sections, lambda s: bytes(_format.section_array(buffer, s).view(np.uint8)), metric)
        arrays = {s.spec.name: _format.section_array(buffer, s) for s in _index_sections(sections)}
        core, problem = _core.map_sections(_params(d, spec), _layout(d), arrays)
        if problem is not None:
            raise reader.fail(problem[1], problem[0])
        _apply_settings(core, d)
        mapped = MappedFile(name, _index_sections(sections), arrays)
        if verify:
            verify_core(core, mapped)
        return core, spec, mapped
    with open(name, "rb") as f:
        return (*_read_stream(reader, f, metric), None)


def _read_stream(reader: _format.Reader, f: Any, metric: Any) -> tuple[Any, MetricSpec]:
    """The index in a binary stream from its position to its end; a stream that
    cannot seek is read whole first."""
    if not (callable(getattr(f, "seekable", None)) and f.seekable()):
        data = f.read()
        if not isinstance(data, (bytes, bytearray)):
            raise InvalidParameterError(f"the file object's read() must return bytes; got {type(data).__name__}")
        return _from_view(reader, np.frombuffer(data, dtype=np.uint8), metric)
    start = f.tell()
    size = f.seek(0, io.SEEK_END) - start

    def read(offset: int, length: int) -> bytes:
        f.seek(start + offset)
        return f.read(length)

    def fill(section: _format.Section, target: np.ndarray) -> None:
        # Straight into the index's own memory: no intermediate copy of the file.
        f.seek(start + section.offset)
        if callable(getattr(f, "readinto", None)):
            got = f.readinto(memoryview(target))
        else:
            chunk = f.read(target.shape[0])
            got = len(chunk)
            target[:got] = np.frombuffer(chunk, dtype=np.uint8)
        if got != target.shape[0]:
            raise reader.fail("the file changed size while being read", section.spec.name)

    restored = _restore(reader, read, fill, size, metric)
    f.seek(start + size)
    return restored


def from_bytes(data: bytes | bytearray | memoryview, metric: Any = None) -> tuple[Any, MetricSpec]:
    return _from_view(_format.Reader(None), np.frombuffer(data, dtype=np.uint8), metric)


def _from_view(reader: _format.Reader, view: np.ndarray, metric: Any) -> tuple[Any, MetricSpec]:
    def read(offset: int, length: int) -> bytes:
        return bytes(view[offset : offset + length])

    def fill(section: _format.Section, target: np.ndarray) -> None:
        target[:] = view[section.offset : section.offset + section.spec.length]

    return _restore(reader, read, fill, view.shape[0], metric)


def _restore(reader: _format.Reader, read: Any, fill: Any, size: int, metric: Any) -> tuple[Any, MetricSpec]:
    """An index from `read(offset, length) -> bytes` and `fill(section, target)` over `size` bytes."""
    d, sections = _read_descriptor(reader, read, size)
    spec = _metric(reader, d, sections, lambda s: read(s.offset, s.spec.length), metric)
    return _fill_and_finish(reader, d, sections, fill, spec), spec


def verify_core(core: Any, mapped: MappedFile | None) -> None:
    """Checksums of a mapped file's sections, then every link and vector."""
    if mapped is not None:
        mapped.verify_checksums()
    problem = core.verify()
    if problem is not None:
        section, message = problem
        raise IndexFormatError(message, path=mapped.path if mapped else None, section=section)


def info(path: PathLike) -> dict[str, Any]:
    """Reads only the header and descriptor (see vsearch.info), storage included."""
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
    result["storage"] = _format.storage_of(descriptor)
    result["file_size"] = size
    result["sections"] = [
        {"name": s.spec.name, "offset": s.offset, "length": s.spec.length, "checksum": s.checksum} for s in sections
    ]
    return result
