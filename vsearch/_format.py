"""The index file format, version 3.0, which also reads 1.0 and 2.0 (see FORMAT.md beside this file).

Pure encoding and validation: bytes in, checked descriptors out. Every
failure raises IndexFormatError naming the source, the section and the
problem; nothing here trusts a number from the file before checking it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

from . import _core, limits
from ._validation import INT64_MAX, INT64_MIN, SEED_LIMIT
from .errors import IndexFormatError

MAGIC = b"\x89VSX\r\n\x1a\n"
MAJOR = 3
MINOR = 0
# Major versions this reader understands: 1.x has no slot states (every slot live); before 3.x
# every file stores float32 rows (no "storage" key).
READABLE_MAJORS = (1, 2, 3)
FIRST_MAJOR_WITH_STATES = 2
FIRST_MAJOR_WITH_STORAGE = 3
STORAGE_KEY = "storage"
DEFAULT_STORAGE = "float32"
# The element type of the vectors section per storage: halves as their raw bits.
ROW_DTYPES = {"float32": np.dtype("<f4"), "float16": np.dtype("<u2")}
SLOT_STATES_SECTION = _core.SLOT_STATES_SECTION
ENDIAN_MARK = 0x01020304
HEADER = struct.Struct("<8sHHIQII")  # magic, major, minor, endian mark, descriptor length, two CRCs
# Sections start where the core's rows do (a cache line), so mapped rows are aligned as it needs.
SECTION_ALIGNMENT = _core.ROW_ALIGNMENT

# Limits of the file itself; those of the index are vsearch.limits, which the
# constructor enforces too, so every index vsearch builds loads back.
MAX_DESCRIPTOR_BYTES = 1 << 20
# The descriptor key (version 2) of Index.consolidate_fraction.
CONSOLIDATE_FRACTION_KEY = "consolidate_fraction"
# The metrics and their sections, as the core names them.
GSSF_SECTION = _core.GSSF_SECTION


@dataclass(frozen=True)
class SectionSpec:
    name: str
    dtype: np.dtype
    shape: tuple[int, ...]

    @property
    def length(self) -> int:
        return int(np.prod(self.shape, dtype=object)) * self.dtype.itemsize


@dataclass(frozen=True)
class Section:
    spec: SectionSpec
    offset: int
    checksum: int


def align(offset: int) -> int:
    return -(-offset // SECTION_ALIGNMENT) * SECTION_ALIGNMENT


def has_slot_states(d: dict[str, Any]) -> bool:
    """Whether a (checked) descriptor's file records slot states (removed and free slots)."""
    return d["format_version"][0] >= FIRST_MAJOR_WITH_STATES


def storage_of(d: dict[str, Any]) -> str:
    """How a (checked) descriptor's file stores its rows."""
    return d[STORAGE_KEY] if d["format_version"][0] >= FIRST_MAJOR_WITH_STORAGE else DEFAULT_STORAGE


def section_specs(d: dict[str, Any]) -> list[SectionSpec]:
    """The sections a descriptor implies, in file order."""
    n, M = d["count"], d["M"]
    specs = [SectionSpec("vectors", ROW_DTYPES[storage_of(d)], (n, d["row_stride"]))]
    if d["metric"] in _core.ROW_SCALAR_SECTIONS:
        specs.append(SectionSpec(_core.ROW_SCALAR_SECTIONS[d["metric"]], np.dtype("<f4"), (n,)))
    specs += [
        SectionSpec("ids", np.dtype("<i8"), (n,)),
        SectionSpec("levels", np.dtype("u1"), (n,)),
        SectionSpec("level0_links", np.dtype("<u4"), (n, 1 + 2 * M)),
        SectionSpec("upper_offsets", np.dtype("<u4"), (n,)),
        SectionSpec("upper_links", np.dtype("<u4"), (d["upper_blocks"], 1 + M)),
    ]
    if has_slot_states(d):
        specs.append(SectionSpec(SLOT_STATES_SECTION, np.dtype("u1"), (n,)))
    if d["metric"] == "gssf":
        dim, block = d["dim"], d["metric_params"]["block_size"]
        specs.append(SectionSpec(GSSF_SECTION, np.dtype("<f4"), (dim + dim * block,)))
    return specs


# -- writing ----------------------------------------------------------------


def encode(descriptor: dict[str, Any], arrays: dict[str, np.ndarray]) -> tuple[bytes, list[tuple[int, np.ndarray]]]:
    """Returns (header + descriptor + padding, [(offset, array)]) for a full descriptor without sections."""
    specs = section_specs(descriptor)
    checksums = {s.name: _core.crc32c(np.ascontiguousarray(arrays[s.name])) for s in specs}
    start = align(HEADER.size + 256)
    while True:  # offsets live inside the descriptor that precedes them: iterate to a fixed point
        table, offset = [], start
        for spec in specs:
            table.append({"name": spec.name, "offset": offset, "length": spec.length, "checksum": checksums[spec.name]})
            offset = align(offset + spec.length)
        raw = msgpack.packb({**descriptor, "sections": table}, use_bin_type=True)
        if align(HEADER.size + len(raw)) <= start:
            break
        start = align(HEADER.size + len(raw))
    head = HEADER.pack(MAGIC, MAJOR, MINOR, ENDIAN_MARK, len(raw), _core.crc32c(raw), 0)
    head = head[:-4] + struct.pack("<I", _core.crc32c(head[:-4]))
    prefix = head + raw + bytes(start - HEADER.size - len(raw))
    return prefix, [(entry["offset"], arrays[entry["name"]]) for entry in table]


# -- reading ----------------------------------------------------------------


class Reader:
    """Checks the parts of one file (or bytes object) in order; `source` names it in errors."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.version = (MAJOR, MINOR)  # replaced by the header's

    def fail(self, message: str, section: str | None = None) -> IndexFormatError:
        return IndexFormatError(message, path=self.path, section=section)

    def header(self, head: bytes, file_size: int) -> tuple[int, int]:
        """Returns (descriptor length, descriptor CRC)."""
        if len(head) < HEADER.size:
            raise self.fail(f"file is {file_size} bytes, too short for the {HEADER.size}-byte header", "header")
        magic, major, minor, mark, length, desc_crc, head_crc = HEADER.unpack(head[: HEADER.size])
        if magic != MAGIC:
            raise self.fail("not a vsearch index file (wrong magic bytes)", "header")
        if major > MAJOR:
            raise self.fail(
                f"format version {major}.{minor} was written by a newer vsearch; this vsearch reads format "
                f"{MAJOR}.x: upgrade vsearch to load it",
                "header",
            )
        if head_crc != _core.crc32c(head[: HEADER.size - 4]):
            raise self.fail("header checksum mismatch (the file is corrupted)", "header")
        if major not in READABLE_MAJORS:
            raise self.fail(f"unsupported format version {major}.{minor}", "header")
        self.version = (major, minor)
        if mark != ENDIAN_MARK:
            raise self.fail("wrong endianness mark", "header")
        if length > MAX_DESCRIPTOR_BYTES or HEADER.size + length > file_size:
            raise self.fail(f"descriptor length {length} runs past the end of the {file_size}-byte file", "descriptor")
        return length, desc_crc

    def descriptor(self, raw: bytes, crc: int, file_size: int) -> tuple[dict[str, Any], list[Section]]:
        if _core.crc32c(raw) != crc:
            raise self.fail("descriptor checksum mismatch (the file is corrupted)", "descriptor")
        try:
            d = msgpack.unpackb(raw, raw=False, strict_map_key=True)
        except Exception as error:  # any decoding failure of hostile bytes
            raise self.fail(f"descriptor is not valid msgpack ({error})", "descriptor") from None
        if not isinstance(d, dict):
            raise self.fail("descriptor is not a map", "descriptor")
        self._check_fields(d)
        return d, self._check_sections(d, file_size, HEADER.size + len(raw))

    def _int(self, d: dict[str, Any], key: str, low: int, high: int) -> int:
        value = d.get(key)
        if type(value) is not int:
            raise self.fail(f"'{key}' must be an integer; got {type(value).__name__}", "descriptor")
        if not low <= value <= high:
            raise self.fail(f"'{key}' = {value} is outside [{low}, {high}]", "descriptor")
        return value

    def _check_fields(self, d: dict[str, Any]) -> None:
        version = d.get("format_version")
        if version != list(self.version):
            raise self.fail(
                f"'format_version' {version!r} differs from the header's {list(self.version)}", "descriptor"
            )
        if not isinstance(d.get("library"), str):
            raise self.fail("'library' must be a string", "descriptor")
        dim = self._int(d, "dim", 1, limits.MAX_DIM)
        metric = d.get("metric")
        if metric not in _core.METRICS:
            raise self.fail(f"unknown metric {metric!r}", "descriptor")
        params = d.get("metric_params")
        if not isinstance(params, dict):
            raise self.fail("'metric_params' must be a map", "descriptor")
        if metric == "gssf":
            block = self._int(params, "block_size", 1, min(dim, limits.MAX_GSSF_BLOCK_SIZE))
            if dim % block:
                raise self.fail(f"gssf block_size {block} does not divide dim {dim}", "descriptor")
        if metric == "custom" and not (isinstance(params.get("name"), str) and params["name"]):
            raise self.fail("a custom metric's 'name' must be a non-empty string", "descriptor")
        self._int(d, "M", 2, limits.MAX_M)
        self._int(d, "ef_construction", 1, limits.MAX_EF)
        self._int(d, "ef", 1, limits.MAX_EF)
        self._int(d, "seed", 0, SEED_LIMIT - 1)
        count = self._int(d, "count", 0, limits.MAX_ELEMENTS)
        self._int(d, "max_level", -1, limits.MAX_LEVEL)
        self._int(d, "entry_point", -1, count - 1)
        self._int(d, "max_id", -1 if count == 0 else INT64_MIN, INT64_MAX)
        self._int(d, "upper_blocks", 0, _core.MAX_UPPER_BLOCKS)
        storage = DEFAULT_STORAGE
        if d["format_version"][0] >= FIRST_MAJOR_WITH_STORAGE:
            storage = d.get(STORAGE_KEY)
            if storage not in ROW_DTYPES:
                raise self.fail(f"'{STORAGE_KEY}' must be one of {', '.join(ROW_DTYPES)}; got {storage!r:.40}", "descriptor")
            if metric == "custom" and storage != DEFAULT_STORAGE:
                raise self.fail(f"a custom metric needs {DEFAULT_STORAGE} rows, not {storage}", "descriptor")
        stride = _core.row_stride(dim, storage)
        if self._int(d, "row_stride", 1, _core.row_stride(limits.MAX_DIM, storage)) != stride:
            raise self.fail(f"'row_stride' must be {stride} for dim {dim} ({storage} rows)", "descriptor")
        if has_slot_states(d):
            fraction = d.get(CONSOLIDATE_FRACTION_KEY)
            if type(fraction) is not float or not 0.0 <= fraction <= 1.0:
                raise self.fail(f"'{CONSOLIDATE_FRACTION_KEY}' must be a float in [0, 1]; got {fraction!r:.40}",
                                "descriptor")

    def _check_sections(self, d: dict[str, Any], file_size: int, descriptor_end: int) -> list[Section]:
        table = d.get("sections")
        specs = section_specs(d)
        if not isinstance(table, list) or len(table) != len(specs):
            raise self.fail(f"the section table must list {[s.name for s in specs]}", "descriptor")
        sections, previous_end = [], descriptor_end
        for spec, entry in zip(specs, table):
            if not isinstance(entry, dict) or entry.get("name") != spec.name:
                raise self.fail(f"expected section '{spec.name}' here in the table; got {entry!r:.80}", "descriptor")
            offset = self._int(entry, "offset", 0, INT64_MAX)
            length = self._int(entry, "length", 0, INT64_MAX)
            checksum = self._int(entry, "checksum", 0, (1 << 32) - 1)
            if length != spec.length:
                raise self.fail(
                    f"length {length} does not match count/dim/M, which imply {spec.length} bytes", spec.name
                )
            if offset % SECTION_ALIGNMENT:
                raise self.fail(f"offset {offset} is not {SECTION_ALIGNMENT}-byte aligned", spec.name)
            if offset < previous_end:
                raise self.fail(f"offset {offset} overlaps what precedes it (ends at {previous_end})", spec.name)
            if offset + length > file_size:
                raise self.fail(
                    f"bytes {offset}..{offset + length} run past the end of the {file_size}-byte file "
                    "(truncated?)",
                    spec.name,
                )
            previous_end = offset + length
            sections.append(Section(spec, offset, checksum))
        if previous_end != file_size:
            raise self.fail(f"the file has {file_size - previous_end} unexpected bytes after the last section", "file")
        return sections

    def check_checksum(self, section: Section, data: np.ndarray) -> None:
        if _core.crc32c(data) != section.checksum:
            raise self.fail("checksum mismatch (the data is corrupted)", section.spec.name)


def section_array(buffer: np.ndarray, section: Section) -> np.ndarray:
    """A typed view of one section of the file's bytes (no copy)."""
    spec = section.spec
    raw = buffer[section.offset : section.offset + spec.length]
    return raw.view(spec.dtype).reshape(spec.shape)
