"""Readers for vector file formats: TEXMEX ``.fvecs/.ivecs/.bvecs``, ann-benchmarks
``.hdf5`` and ``.npz``. Each returns plain numpy arrays; a malformed file raises
:class:`DatasetError` naming the file and what is wrong with it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

# TEXMEX vector files: each row is an int32 dimension d followed by d values.
TEXMEX_VALUE_DTYPES = {".fvecs": np.dtype("<f4"), ".ivecs": np.dtype("<i4"), ".bvecs": np.dtype("u1")}
# Upper bound on a plausible TEXMEX dimension; a larger header means a corrupt or foreign file.
TEXMEX_MAX_DIM = 1 << 20
# ann-benchmarks' names for its metrics -> the harness's.
HDF5_METRICS = {"euclidean": "l2", "angular": "cosine", "dot": "ip", "ip": "ip", "inner_product": "ip",
                "cosine": "cosine", "l2": "l2"}


class DatasetError(ValueError):
    """A dataset file or folder that cannot be used; the message names the file."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)


def read_vecs(path: str | os.PathLike, max_rows: int | None = None) -> np.ndarray:
    """Reads a TEXMEX ``.fvecs`` (float32), ``.ivecs`` (int32) or ``.bvecs`` (uint8) file
    into a 2-D array of that dtype; ``max_rows`` reads only the first rows (memory-mapped,
    so a prefix of a huge file costs only what it reads)."""
    path = Path(path)
    dtype = TEXMEX_VALUE_DTYPES.get(path.suffix.lower())
    if dtype is None:
        raise DatasetError(path, f"unknown TEXMEX extension {path.suffix!r}; expected one of {', '.join(TEXMEX_VALUE_DTYPES)}")
    try:
        size = path.stat().st_size
    except OSError as error:
        raise DatasetError(path, f"cannot read: {error.strerror or error}") from None
    if size < 4:
        raise DatasetError(path, f"file of {size} bytes holds no vector (a row starts with a 4-byte dimension)")
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    dim = int(raw[:4].view("<i4")[0])
    if not 0 < dim <= TEXMEX_MAX_DIM:
        raise DatasetError(path, f"first row declares dimension {dim}; not a {path.suffix} file or corrupt")
    row_bytes = 4 + dim * dtype.itemsize
    if size % row_bytes:
        raise DatasetError(path, f"size {size} bytes is not a whole number of rows of {row_bytes} bytes "
                                 f"(dimension {dim}); truncated or corrupt")
    rows = size // row_bytes
    if max_rows is not None:
        rows = min(rows, max_rows)
    table = raw[: rows * row_bytes].reshape(rows, row_bytes)
    dims = table[:, :4].copy().view("<i4")[:, 0]
    bad = np.flatnonzero(dims != dim)
    if bad.size:
        raise DatasetError(path, f"row {int(bad[0])} declares dimension {int(dims[bad[0]])}, row 0 declares {dim}; "
                                 "rows must all have the same dimension")
    return np.ascontiguousarray(table[:, 4:]).view(dtype).reshape(rows, dim)


def write_vecs(path: str | os.PathLike, array: np.ndarray) -> None:
    """Writes a 2-D array as a TEXMEX file (the dtype follows the extension)."""
    path = Path(path)
    dtype = TEXMEX_VALUE_DTYPES[path.suffix.lower()]
    a = np.asarray(array).astype(dtype)
    rows = np.empty((a.shape[0], 4 + a.shape[1] * dtype.itemsize), np.uint8)
    rows[:, :4] = np.full((a.shape[0], 1), a.shape[1], "<i4").view(np.uint8)
    rows[:, 4:] = a.view(np.uint8).reshape(a.shape[0], -1)
    rows.tofile(path)


def texmex_siblings(base_path: str | os.PathLike) -> dict[str, Path]:
    """Given ``X_base.fvecs`` (or ``.bvecs``), the TEXMEX names of its siblings:
    ``X_query.<ext>`` and ``X_groundtruth.ivecs`` (which may not exist)."""
    base_path = Path(base_path)
    stem, ext = base_path.stem, base_path.suffix
    if not stem.endswith("base"):
        raise DatasetError(base_path, "a TEXMEX base file is named <name>_base.fvecs (or .bvecs); "
                                      "its queries are found as <name>_query.<ext>")
    prefix = stem[: -len("base")]
    return {"queries": base_path.with_name(f"{prefix}query{ext}"),
            "gt_ids": base_path.with_name(f"{prefix}groundtruth.ivecs")}


def read_texmex(base_path: str | os.PathLike, max_base: int | None = None) -> dict[str, np.ndarray]:
    """A TEXMEX set from its base file: base, queries and (if present and the whole base is
    read) gt_ids. Values are converted to float32."""
    base_path = Path(base_path)
    siblings = texmex_siblings(base_path)
    if not siblings["queries"].exists():
        raise DatasetError(base_path, f"its query file {siblings['queries'].name} is missing next to it")
    base = read_vecs(base_path)
    total = base.shape[0]
    if max_base is not None and max_base < total:
        base = base[:max_base]
    queries = read_vecs(siblings["queries"])
    if queries.shape[1] != base.shape[1]:
        raise DatasetError(siblings["queries"], f"queries have dimension {queries.shape[1]}, the base {base.shape[1]}")
    out = {"base": np.ascontiguousarray(base, np.float32), "queries": np.ascontiguousarray(queries, np.float32)}
    if siblings["gt_ids"].exists() and base.shape[0] == total:
        gt = read_vecs(siblings["gt_ids"])
        check_gt(siblings["gt_ids"], gt, len(queries), base.shape[0])
        out["gt_ids"] = gt.astype(np.int64)
    return out


def read_hdf5(path: str | os.PathLike) -> dict[str, Any]:
    """An ann-benchmarks HDF5 file: ``train`` (base), ``test`` (queries), optional
    ``neighbors`` (ground-truth ids) and the ``distance`` attribute (-> metric)."""
    path = Path(path)
    try:
        import h5py
    except ImportError:
        raise DatasetError(path, "reading .hdf5 files needs h5py, which is not installed: pip install h5py") from None
    try:
        f = h5py.File(path, "r")
    except OSError as error:
        raise DatasetError(path, f"not a readable HDF5 file ({error})") from None
    with f:
        missing = [key for key in ("train", "test") if key not in f]
        if missing:
            raise DatasetError(path, f"missing dataset(s) {', '.join(missing)}; an ann-benchmarks file has "
                                     f"'train', 'test' and optionally 'neighbors' (found: {', '.join(f.keys()) or 'none'})")
        out: dict[str, Any] = {"base": f["train"][()], "queries": f["test"][()]}
        if "neighbors" in f:
            out["gt_ids"] = f["neighbors"][()]
        distance = f.attrs.get("distance", "euclidean")
    if isinstance(distance, bytes):
        distance = distance.decode()
    metric = HDF5_METRICS.get(str(distance).lower())
    if metric is None:
        raise DatasetError(path, f"distance {distance!r} is not supported (supported: {', '.join(HDF5_METRICS)})")
    out["metric"] = metric
    check_vectors(path, out, "base", "queries")
    if "gt_ids" in out:
        check_gt(path, out["gt_ids"], len(out["queries"]), len(out["base"]), "neighbors")
        out["gt_ids"] = out["gt_ids"].astype(np.int64)
    return out


NPZ_REQUIRED = ("base", "queries")
NPZ_OPTIONAL = ("gt_ids", "base_labels", "query_labels", "metric")


def read_npz(path: str | os.PathLike) -> dict[str, Any]:
    """A ``.npz`` file with ``base`` and ``queries`` and optionally ``gt_ids``,
    ``base_labels``, ``query_labels`` and ``metric`` (a string). No pickles."""
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DatasetError(path, f"not a readable .npz file ({error})") from None
    if not hasattr(archive, "files"):
        raise DatasetError(path, "holds a single array, not an .npz archive of named arrays")
    with archive:
        missing = [key for key in NPZ_REQUIRED if key not in archive.files]
        if missing:
            raise DatasetError(path, f"missing array(s) {', '.join(missing)} (found: {', '.join(archive.files) or 'none'}); "
                                     f"expected {', '.join(NPZ_REQUIRED)} and optionally {', '.join(NPZ_OPTIONAL)}")
        try:
            out: dict[str, Any] = {key: archive[key] for key in archive.files if key in NPZ_REQUIRED + NPZ_OPTIONAL}
        except ValueError as error:  # object arrays need pickle, which we refuse
            raise DatasetError(path, f"unreadable array ({error})") from None
    if "metric" in out:
        out["metric"] = str(out["metric"])
    check_vectors(path, out, "base", "queries")
    for key, count in (("base_labels", len(out["base"])), ("query_labels", len(out["queries"]))):
        if key in out:
            labels = np.asarray(out[key])
            if labels.shape != (count,) or not np.issubdtype(labels.dtype, np.integer):
                raise DatasetError(path, f"'{key}' must be integers of shape ({count},); got {labels.dtype} {labels.shape}")
    if "gt_ids" in out:
        check_gt(path, out["gt_ids"], len(out["queries"]), len(out["base"]))
        out["gt_ids"] = out["gt_ids"].astype(np.int64)
    return out


def check_vectors(path: str | os.PathLike, arrays: dict[str, Any], base_key: str, queries_key: str) -> None:
    """Checks that base and queries are finite, numeric, 2-D and of one dimension; converts
    them to C-contiguous float32 in place."""
    for key in (base_key, queries_key):
        a = np.asarray(arrays[key])
        if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
            raise DatasetError(path, f"'{key}' must be a non-empty 2-D array; got shape {a.shape}")
        if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
            raise DatasetError(path, f"'{key}' must be numeric; got dtype {a.dtype}")
        a = np.ascontiguousarray(a, np.float32)
        if not np.isfinite(a).all():
            raise DatasetError(path, f"'{key}' holds NaN or infinite values")
        arrays[key] = a
    if arrays[base_key].shape[1] != arrays[queries_key].shape[1]:
        raise DatasetError(path, f"'{queries_key}' has dimension {arrays[queries_key].shape[1]}, "
                                 f"'{base_key}' {arrays[base_key].shape[1]}")


def check_gt(path: str | os.PathLike, gt: np.ndarray, n_queries: int, n_base: int, key: str = "gt_ids") -> None:
    """Checks supplied ground-truth ids: integers (n_queries, k>=1) within [0, n_base)."""
    gt = np.asarray(gt)
    if gt.ndim != 2 or gt.shape[0] != n_queries or gt.shape[1] == 0 or not np.issubdtype(gt.dtype, np.integer):
        raise DatasetError(path, f"'{key}' must be integers of shape ({n_queries}, k); got {gt.dtype} {gt.shape}")
    if gt.size and (gt.min() < 0 or gt.max() >= n_base):
        raise DatasetError(path, f"'{key}' holds ids outside [0, {n_base})")
