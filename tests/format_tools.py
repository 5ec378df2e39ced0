"""A small, independent reader/writer of the vsearch index file format (vsearch/FORMAT.md).

Written from the spec only (struct + msgpack + numpy), so the tests can take a saved file apart and
put together hostile variants whose checksums are *correct*: such files get past the CRCs and
exercise the semantic validation of the reader.

* ``parse(data)`` -> :class:`VsxFile` (header fields, descriptor dict, section bytes by name).
* ``emit(descriptor, sections, ...)`` -> bytes: lays the sections out on 64-byte boundaries, fills
  the section table (offset, length, checksum) and both header CRCs; hooks let a test change the
  descriptor after the layout (bad offsets, lengths...) or the header (version, lengths) while the
  CRCs stay right.
* ``crc32c(data, value=0)``: a pure-python CRC-32C (Castagnoli), cross-checked against
  ``vsearch._core.crc32c`` in the tests.
* ``section_array(f, name)`` / ``array_bytes(a)``: numpy views of a section and back.
"""
from __future__ import annotations

import copy
import struct
from dataclasses import dataclass, field
from typing import Any, Callable

import msgpack
import numpy as np

MAGIC = b"\x89VSX\r\n\x1a\n"
ENDIAN_MARK = 0x01020304
HEADER = struct.Struct("<8sHHIQII")  # magic, major, minor, endian, D, desc crc, header crc
HEADER_SIZE = HEADER.size  # 32
ALIGN = 64
NO_UPPER = 0xFFFFFFFF
CURRENT_MAJOR = 3  # the version vsearch writes; 1 (no slot_states) and 2 (no storage key) still load

# ----------------------------------------------------------------------------- CRC-32C


def _make_table() -> list[int]:
    poly = 0x82F63B78  # reflected Castagnoli polynomial
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _make_table()


def crc32c_py(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """Pure-python CRC-32C, continuing from ``value`` (0 to start)."""
    crc = value ^ 0xFFFFFFFF
    table = _TABLE
    for b in bytes(data):
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def crc32c(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """CRC-32C: the library's fast one when it exists (it is cross-checked in the tests), else python."""
    try:
        from vsearch import _core

        fast = getattr(_core, "crc32c", None)
    except Exception:  # pragma: no cover - library not importable
        fast = None
    if fast is not None:
        return fast(bytes(data), value)
    return crc32c_py(data, value)


assert crc32c_py(b"123456789") == 0xE3069283

# ----------------------------------------------------------------------------- parsing


def align_up(x: int, a: int = ALIGN) -> int:
    return (x + a - 1) // a * a


@dataclass
class VsxFile:
    magic: bytes
    major: int
    minor: int
    endian: int
    descriptor_length: int
    descriptor_crc: int
    header_crc: int
    descriptor: dict
    descriptor_bytes: bytes
    sections: dict[str, bytes] = field(default_factory=dict)  # in section-table order
    file_size: int = 0

    @property
    def table(self) -> list[dict]:
        return self.descriptor["sections"]

    def entry(self, name: str) -> dict:
        for e in self.table:
            if e["name"] == name:
                return e
        raise KeyError(name)

    def boundaries(self) -> list[int]:
        """Interesting truncation points: header/descriptor ends, each section's start and end."""
        points = {0, 8, 16, 24, HEADER_SIZE - 1, HEADER_SIZE, HEADER_SIZE + self.descriptor_length}
        for e in self.table:
            points.add(e["offset"])
            points.add(e["offset"] + e["length"])
        return sorted(p for p in points if p < self.file_size)


def parse(data: bytes | bytearray | memoryview, *, check: bool = True) -> VsxFile:
    """Takes a file apart; with ``check`` the CRCs and layout are verified (assert) on the way."""
    data = bytes(data)
    magic, major, minor, endian, dlen, dcrc, hcrc = HEADER.unpack_from(data, 0)
    dbytes = data[HEADER_SIZE : HEADER_SIZE + dlen]
    if check:
        assert magic == MAGIC, magic
        assert endian == ENDIAN_MARK, hex(endian)
        assert crc32c(data[:28]) == hcrc, "header crc"
        assert crc32c(dbytes) == dcrc, "descriptor crc"
    desc = msgpack.unpackb(dbytes, raw=False, strict_map_key=False)
    f = VsxFile(magic, major, minor, endian, dlen, dcrc, hcrc, desc, dbytes, {}, len(data))
    end = HEADER_SIZE + dlen
    for e in desc["sections"]:
        off, length = e["offset"], e["length"]
        blob = data[off : off + length]
        if check:
            assert off % ALIGN == 0, (e["name"], off)
            assert off >= end, (e["name"], off, end)
            assert off + length <= len(data), e["name"]
            assert crc32c(blob) == e["checksum"], e["name"]
            assert data[end:off] == b"\0" * (off - end), f"padding before {e['name']} is not zero"
        f.sections[e["name"]] = blob
        end = off + length
    if check:
        assert end == len(data), "the file must end where the last section ends"
    return f


def read(path) -> VsxFile:
    with open(path, "rb") as fh:
        return parse(fh.read())


# ----------------------------------------------------------------------------- numpy views

ROW_DTYPES = {
    "vectors": np.float32,
    "scales": np.float32,
    "ids": np.int64,
    "levels": np.uint8,
    "level0_links": np.uint32,
    "upper_offsets": np.uint32,
    "upper_links": np.uint32,
    "slot_states": np.uint8,
}


def section_array(f: VsxFile, name: str) -> np.ndarray:
    """A writable copy of a section as a numpy array of its spec'd shape."""
    d = f.descriptor
    dtype = np.uint16 if name == "vectors" and d.get("storage") == "float16" else ROW_DTYPES[name]  # halves' bits
    a = np.frombuffer(f.sections[name], dtype=np.dtype(dtype).newbyteorder("<")).copy()
    n, M = d["count"], d["M"]
    if name == "vectors":
        return a.reshape(n, d["row_stride"])
    if name == "level0_links":
        return a.reshape(n, 1 + 2 * M)
    if name == "upper_links":
        return a.reshape(d["upper_blocks"], 1 + M)
    return a


def array_bytes(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"), copy=False).tobytes()


# ----------------------------------------------------------------------------- emitting


def encode_descriptor(desc: Any) -> bytes:
    return msgpack.packb(desc, use_bin_type=True)


def emit(
    descriptor: Any,
    sections: dict[str, bytes] | list[tuple[str, bytes]],
    *,
    patch_descriptor: Callable[[dict], None] | None = None,
    descriptor_bytes: bytes | None = None,
    major: int = CURRENT_MAJOR,
    minor: int = 0,
    magic: bytes = MAGIC,
    endian: int = ENDIAN_MARK,
    descriptor_length: int | None = None,
    tail: bytes = b"",
    extra_gap: int = 0,
) -> bytes:
    """Builds a file with correct CRCs.

    The sections are laid out in the given order, each on the next 64-byte boundary after the
    previous one (the first after the descriptor, plus ``extra_gap`` bytes); the descriptor's
    section table is rewritten with their offsets, lengths and CRCs (entries are matched by name;
    a section without an entry gets one appended). ``patch_descriptor(desc)`` then may change
    anything (the sections stay where the layout put them). ``descriptor_bytes`` replaces the
    encoded descriptor entirely (e.g. a msgpack list); ``descriptor_length`` overrides the header's
    D field (the header CRC still matches); ``tail`` is appended after the last section.
    """
    items = list(sections.items()) if isinstance(sections, dict) else list(sections)
    desc = copy.deepcopy(descriptor)
    start_guess = align_up(HEADER_SIZE + 64)
    for _ in range(50):
        offsets = []
        pos = start_guess
        for _name, blob in items:
            pos = align_up(pos)
            offsets.append(pos)
            pos += len(blob)
        end = pos
        d = copy.deepcopy(desc)
        if isinstance(d, dict) and "sections" in d and isinstance(d["sections"], list):
            table = d["sections"]
            by_name = {e.get("name"): e for e in table if isinstance(e, dict)}
            new_table = []
            for (name, blob), off in zip(items, offsets):
                e = dict(by_name.get(name, {"name": name}))
                e["name"], e["offset"], e["length"], e["checksum"] = name, off, len(blob), crc32c(blob)
                new_table.append(e)
            d["sections"] = new_table
        if patch_descriptor is not None:
            patch_descriptor(d)
        dbytes = descriptor_bytes if descriptor_bytes is not None else encode_descriptor(d)
        needed = align_up(HEADER_SIZE + len(dbytes) + extra_gap)
        if needed == start_guess:
            break
        start_guess = needed
    else:  # pragma: no cover
        raise RuntimeError("layout did not converge")
    if not items:
        end = HEADER_SIZE + len(dbytes)
    out = bytearray(end)
    dlen = len(dbytes) if descriptor_length is None else descriptor_length
    head = struct.pack("<8sHHIQI", magic, major, minor, endian, dlen, crc32c(dbytes))
    out[:28] = head
    out[28:32] = struct.pack("<I", crc32c(head))
    out[HEADER_SIZE : HEADER_SIZE + len(dbytes)] = dbytes
    for (_name, blob), off in zip(items, offsets):
        out[off : off + len(blob)] = blob
    return bytes(out) + tail


def reemit(f: VsxFile, *, descriptor: Any = None, sections: dict[str, bytes] | None = None, **kw) -> bytes:
    """``emit`` of a parsed file with an optionally replaced descriptor / some replaced sections."""
    desc = f.descriptor if descriptor is None else descriptor
    secs = dict(f.sections)
    if sections:
        secs.update(sections)
    kw.setdefault("major", f.major)
    kw.setdefault("minor", f.minor)
    return emit(desc, secs, **kw)


def with_sections(f: VsxFile, **arrays: np.ndarray) -> bytes:
    """Re-emits ``f`` with some sections replaced by (modified) numpy arrays."""
    return reemit(f, sections={name: array_bytes(a) for name, a in arrays.items()})


def with_descriptor(f: VsxFile, **changes: Any) -> bytes:
    """Re-emits ``f`` with descriptor keys changed (a value of ``DELETE`` removes the key)."""
    d = copy.deepcopy(f.descriptor)
    for k, v in changes.items():
        if v is DELETE:
            d.pop(k, None)
        else:
            d[k] = v
    return reemit(f, descriptor=d)


class _Delete:
    def __repr__(self) -> str:
        return "DELETE"


DELETE = _Delete()


def covered_ranges(f: VsxFile) -> list[tuple[int, int]]:
    """Byte ranges protected by a CRC: header (0..28 and the CRC itself), descriptor, sections."""
    ranges = [(0, HEADER_SIZE), (HEADER_SIZE, HEADER_SIZE + f.descriptor_length)]
    for e in f.table:
        ranges.append((e["offset"], e["offset"] + e["length"]))
    return ranges


def section_of(f: VsxFile, pos: int) -> str | None:
    """The name of the region holding byte ``pos`` ('header', 'descriptor', a section) or None (padding)."""
    if pos < HEADER_SIZE:
        return "header"
    if pos < HEADER_SIZE + f.descriptor_length:
        return "descriptor"
    for e in f.table:
        if e["offset"] <= pos < e["offset"] + e["length"]:
            return e["name"]
    return None
