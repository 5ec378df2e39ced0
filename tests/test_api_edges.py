"""Edges of the public API: integers at every entry point, native exceptions, file objects,
helpful messages, progress reporting, and one source of truth for defaults and limits."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import vsearch
from helpers import VM_BYTES_SOURCE
from vsearch import _core, errors, limits

DIM = 8
rng = np.random.default_rng(7)
DATA = rng.standard_normal((40, DIM)).astype(np.float32)


def _index() -> vsearch.Index:
    index = vsearch.Index(DIM, M=4, ef_construction=16, seed=3)
    index.add(DATA, threads=1)
    return index


def _state(index: vsearch.Index) -> tuple:
    result = index.search(DATA[:5], k=5, threads=1)
    return len(index), result.ids.tobytes(), result.distances.tobytes(), bytes(index)


# ----------------------------------------------------------------------------- native exceptions
@pytest.mark.parametrize("kind, cls, builtin", [
    ("bad_alloc", errors.OutOfMemoryError, MemoryError),
    ("invalid_vector", errors.InvalidVectorError, ValueError),
    ("format", errors.IndexFormatError, ValueError),
    ("read_only", errors.ReadOnlyIndexError, ValueError),
    ("length_error", errors.CapacityError, ValueError),
    ("overflow_error", errors.IdOverflowError, OverflowError),
    ("out_of_range", errors.OutOfRangeError, IndexError),
    ("invalid_argument", errors.InvalidParameterError, ValueError),
    ("domain_error", errors.InvalidParameterError, ValueError),
    ("runtime_error", errors.NativeError, RuntimeError),
])
def test_every_native_exception_becomes_a_vsearch_error_with_its_builtin_base(kind, cls, builtin):
    with pytest.raises(cls) as caught:
        _core.raise_native_error(kind, f"what went wrong ({kind})")
    assert isinstance(caught.value, errors.VSearchError) and isinstance(caught.value, builtin)
    if kind != "bad_alloc":
        assert f"what went wrong ({kind})" in str(caught.value)
    else:
        assert "out of memory" in str(caught.value) and "nothing was changed" in str(caught.value)
    if kind == "format":
        assert caught.value.section == "levels"


def test_a_python_exception_from_a_progress_callback_passes_through_unchanged():
    class Stop(Exception):
        pass

    def stop(done, total):
        raise Stop(f"{done}/{total}")

    index = _index()
    with pytest.raises(Stop, match="10/10"):
        index.add(rng.standard_normal((10, DIM)), progress=stop)
    assert len(index) == len(DATA) + 10  # an add never stops half-way


def test_automatic_ids_past_int64_raise_id_overflow_from_the_core():
    index = vsearch.Index(DIM)
    index.add(DATA[:1], ids=[2**63 - 1])
    with pytest.raises(errors.IdOverflowError, match="pass ids explicitly"):
        index.add(DATA[1:2])
    assert len(index) == 1


# ----------------------------------------------------------------------------- integers everywhere
BAD_INTEGERS = [2**64, 2**64 - 1, 2**63, -1, -(2**63) - 1, 1.0, 2.5, True, "3", None, np.float32(4)]

ENTRY_POINTS = {
    "Index(dim)": lambda v: vsearch.Index(v),
    "Index(M=)": lambda v: vsearch.Index(DIM, M=v),
    "Index(ef_construction=)": lambda v: vsearch.Index(DIM, ef_construction=v),
    "Index(ef=)": lambda v: vsearch.Index(DIM, ef=v),
    "Index(seed=)": lambda v: vsearch.Index(DIM, seed=v),
    "index.ef = ": lambda v: setattr(_index(), "ef", v),
    "search(k=)": lambda v: _index().search(DATA[:2], k=v),
    "search(ef=)": lambda v: _index().search(DATA[:2], ef=v),
    "search(threads=)": lambda v: _index().search(DATA[:2], threads=v),
    "add(threads=)": lambda v: _index().add(DATA[:2] + 1, threads=v),
    "GSSF(dim)": lambda v: vsearch.GSSF(v),
    "GSSF(block_size=)": lambda v: vsearch.GSSF(16, v),
    "GSSF.fit(epochs=)": lambda v: vsearch.GSSF(4, 2).fit(DATA[:, :4], np.arange(40) % 2, epochs=v, progress=False),
    "GSSF.fit(batch_size=)": lambda v: vsearch.GSSF(4, 2).fit(DATA[:, :4], np.arange(40) % 2, batch_size=v,
                                                               epochs=1, progress=False),
    "GSSF.fit(patience=)": lambda v: vsearch.GSSF(4, 2).fit(DATA[:, :4], np.arange(40) % 2, patience=v,
                                                             epochs=1, progress=False),
    "GSSF.fit(seed=)": lambda v: vsearch.GSSF(4, 2).fit(DATA[:, :4], np.arange(40) % 2, seed=v, epochs=1,
                                                         progress=False),
}
# Values an entry point accepts although they are in BAD_INTEGERS: seeds are uint64, None is "default",
# and epochs and patience are upper bounds of a loop that early stopping ends.
ACCEPTED = {("Index(seed=)", 2**64 - 1), ("Index(seed=)", 2**63), ("GSSF.fit(seed=)", 2**64 - 1),
            ("GSSF.fit(seed=)", 2**63), ("search(ef=)", None)} | {
            (name, big) for name in ("GSSF.fit(epochs=)", "GSSF.fit(patience=)") for big in (2**64, 2**64 - 1, 2**63)}


@pytest.mark.parametrize("value", BAD_INTEGERS, ids=repr)
@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_every_integer_argument_rejects_bad_values_with_a_vsearch_error(name, value):
    if (name, value) in ACCEPTED:
        ENTRY_POINTS[name](value)
        return
    with pytest.raises(errors.InvalidParameterError) as caught:
        ENTRY_POINTS[name](value)
    assert isinstance(caught.value, ValueError)
    assert "incompatible function arguments" not in str(caught.value)


@pytest.mark.parametrize("name", list(ENTRY_POINTS))
@pytest.mark.parametrize("cast", [np.int64, np.int32, np.uint16], ids=lambda c: c.__name__)
def test_every_integer_argument_takes_numpy_integers(name, cast):
    value = {"Index(dim)": 4, "Index(M=)": 4, "GSSF(dim)": 16, "GSSF(block_size=)": 4, "search(threads=)": 1,
             "add(threads=)": 1, "GSSF.fit(batch_size=)": 8}.get(name, 2)
    ENTRY_POINTS[name](cast(value))


def test_k_past_the_widest_beam_is_rejected_naming_the_limit_and_the_index_size():
    index = _index()
    for k in (limits.MAX_EF + 1, 2**40, 2**64):
        with pytest.raises(errors.InvalidParameterError) as caught:
            index.search(DATA[:2], k=k)
        message = str(caught.value)
        assert f"k must be <= {limits.MAX_EF}" in message and "holds 40 vectors" in message, message
        assert f"got {k}" in message


def test_k_up_to_the_limit_gives_k_columns_padded_with_minus_one_and_inf():
    index = _index()
    ids, distances = index.search(DATA[0], k=limits.MAX_EF)
    assert ids.shape == distances.shape == (limits.MAX_EF,)
    assert sorted(ids[: len(DATA)].tolist()) == list(range(len(DATA)))
    assert (ids[len(DATA):] == -1).all() and np.isinf(distances[len(DATA):]).all()
    np.testing.assert_array_equal(ids[:10], index.search(DATA[0], k=10).ids)


def test_threads_up_to_the_limit_are_accepted_and_past_it_rejected():
    index = _index()
    assert index.search(DATA[:3], k=2, threads=limits.MAX_THREADS).ids.shape == (3, 2)
    index.add(DATA[:3] + 10, threads=limits.MAX_THREADS)
    for call in (lambda: index.search(DATA[:3], threads=limits.MAX_THREADS + 1),
                 lambda: index.add(DATA[:3] + 20, threads=limits.MAX_THREADS + 1)):
        before = _state(index)
        with pytest.raises(errors.InvalidParameterError, match=f"threads must be <= {limits.MAX_THREADS}"):
            call()
        assert _state(index) == before


def test_ids_past_int64_are_never_wrapped_around():
    index = vsearch.Index(DIM)
    index.add(DATA[:2], ids=[-2, 5])                      # 2**64 - 2 would wrap around to -2
    for outside in (np.uint64(2**64 - 2), 2**64 - 2, [5, 2**64 - 2], np.array([2**64 - 2], np.uint64)):
        with pytest.raises(errors.UnknownIdError, match="18446744073709551614 is not in the index"):
            index.get(outside)
    with pytest.raises(errors.InvalidParameterError, match=r"ids must fit in int64.*got 18446744073709551616"):
        index.add(DATA[2:3], ids=[2**64])
    np.testing.assert_array_equal(index.get(np.int8(-2)), DATA[0])


def test_gssf_sizes_beyond_the_limits_are_rejected_before_allocating():
    with pytest.raises(errors.InvalidParameterError, match=f"dim must be <= {limits.MAX_DIM}"):
        vsearch.GSSF(2**21, 2**21)
    big = limits.MAX_GSSF_BLOCK_SIZE * 2
    with pytest.raises(errors.InvalidParameterError, match=f"block_size must be <= {limits.MAX_GSSF_BLOCK_SIZE}"):
        vsearch.GSSF(big, big)
    with pytest.raises(errors.InvalidParameterError, match="block_size must be at most"):
        _core.HnswIndex(_core.make_params(big, "gssf", gssf_diagonal=np.ones(big, np.float32),
                                          gssf_blocks=np.zeros(big * big, np.float32), gssf_block_size=big))


@pytest.mark.parametrize("name, value", [("learning_rate", 0), ("learning_rate", float("nan")), ("margin", -0.1),
                                         ("margin", float("inf")), ("validation_fraction", 1.0),
                                         ("validation_fraction", True)])
def test_gssf_fit_rejects_bad_numbers(name, value):
    model = vsearch.GSSF(4, 2)
    with pytest.raises(errors.InvalidParameterError, match=f"{name} must be a finite number"):
        model.fit(DATA[:, :4], np.arange(40) % 2, progress=False, **{name: value})
    assert model.history is None


# In a child with the address space capped just above what it holds: the core's allocations and
# numpy's (for search results) fail, and both arrive as OutOfMemoryError with the index unchanged.
OUT_OF_MEMORY = VM_BYTES_SOURCE + textwrap.dedent(
    """
    import resource
    import numpy as np
    import vsearch
    from vsearch.errors import OutOfMemoryError

    index = vsearch.Index(1, M=vsearch.limits.MAX_M, seed=0)
    index.add(np.arange(1, 11, dtype=np.float32)[:, None], threads=1)
    batch = np.arange(100, 8100, dtype=np.float32)[:, None]  # 8000 nodes x 32 KiB of links: 256 MiB
    queries = np.zeros((1000, 1), np.float32)                 # 1000 x k=2**20 results: 12 GiB
    before = index.search(queries[:2], k=3).ids.tobytes(), bytes(index)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (vm_bytes() + 128 * 2**20, hard))
    for name, call in (("add", lambda: index.add(batch, threads=1)),
                       ("search", lambda: index.search(queries, k=vsearch.limits.MAX_EF, threads=1))):
        try:
            call()
            print(name, "succeeded")
        except OutOfMemoryError as error:
            assert isinstance(error, MemoryError)
            print(name, "OutOfMemoryError:", error)
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    assert (index.search(queries[:2], k=3).ids.tobytes(), bytes(index)) == before
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs RLIMIT_AS and /proc")
@pytest.mark.skipif("asan" in os.environ.get("LD_PRELOAD", ""), reason="AddressSanitizer reserves the address space")
def test_allocations_that_fail_raise_out_of_memory_error_and_change_nothing():
    child = subprocess.run([sys.executable, "-c", OUT_OF_MEMORY], capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr[-3000:]
    lines = child.stdout.splitlines()
    assert lines[0].startswith("add OutOfMemoryError: out of memory:"), child.stdout
    assert lines[1].startswith("search OutOfMemoryError: the results of 1000 queries x k=1048576 need "
                               "12,582,912,000 bytes"), child.stdout
    assert "ask for fewer neighbours (the index holds 10 vectors)" in lines[1]


# ----------------------------------------------------------------------------- helpful messages
@pytest.mark.parametrize("given, suggested", [("L2", "l2"), ("l3", "l2"), ("cosin", "cosine"), ("Cosine", "cosine"),
                                              ("inner_product", "ip"), ("euclidean", "l2"), ("snrr", "snr"),
                                              ("gsf", "gssf")])
def test_an_unknown_metric_suggests_the_closest_name(given, suggested):
    with pytest.raises(errors.UnknownMetricError) as caught:
        vsearch.Index(DIM, given)
    assert str(caught.value).endswith(f"got {given!r}; did you mean {suggested!r}?"), str(caught.value)


@pytest.mark.parametrize("given", ["hamming", "", 3])
def test_an_unknown_metric_far_from_any_name_gets_no_guess(given):
    with pytest.raises(errors.UnknownMetricError) as caught:
        vsearch.Index(DIM, given)
    assert "did you mean" not in str(caught.value) and "'l2', 'ip', 'cosine', 'snr'" in str(caught.value)


def test_hnswlib_argument_order_is_explained():
    with pytest.raises(errors.InvalidParameterError) as caught:
        vsearch.Index("l2", 16)
    assert str(caught.value) == (
        "vsearch.Index takes the dimension first, then the metric: write vsearch.Index(16, 'l2'), not "
        "vsearch.Index('l2', 16) (hnswlib's Index(space, dim) has the other order); got dim='l2'")
    with pytest.raises(errors.InvalidParameterError, match="takes the dimension first, then the metric; got dim='l2'"):
        vsearch.Index("l2")


NO_NUMBA = textwrap.dedent(
    """
    import sys
    sys.modules["numba"] = None  # as if numba were not installed: `import numba` raises ImportError
    import vsearch
    from vsearch.errors import InvalidParameterError

    def distance(a, b, n):
        return 0.0

    for name, call in (("CustomMetric", lambda: vsearch.CustomMetric(distance)),
                       ("metric", lambda: vsearch.metric("zero")(distance)),
                       ("Index", lambda: vsearch.Index(4, metric=distance))):
        try:
            call()
        except InvalidParameterError as error:
            print(name, error)
    """
)


def test_custom_metrics_without_numba_say_how_to_install_it():
    child = subprocess.run([sys.executable, "-c", NO_NUMBA], capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr[-3000:]
    hint = "custom metrics are compiled with numba, which is not installed here: pip install numba"
    assert child.stdout.splitlines() == [f"{name} {hint}" for name in ("CustomMetric", "metric", "Index")]


# ----------------------------------------------------------------------------- progress
class _Terminal:
    """A stand-in for stderr on a terminal."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True


def _slow_batch(n: int = 6000) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((n, 32)).astype(np.float32)


def test_progress_off_a_terminal_writes_a_few_whole_lines_with_an_eta(capsys):
    index = vsearch.Index(32, M=16, ef_construction=200)
    index.add(_slow_batch(), threads=1, progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err and err.endswith("\n")
    lines = err.splitlines()
    assert 1 <= len(lines) <= 11, lines
    assert lines[-1].startswith("adding [" + "#" * 30 + "] 6000/6000 ") and " in 0:" in lines[-1]
    assert all(line.startswith("adding [") for line in lines)
    assert all(" ETA " in line for line in lines[:-1])
    assert len(lines) >= 3, "an add of over a second reports along the way"  # monitor every 100 ms


def test_progress_on_a_terminal_redraws_one_line_with_an_eta(monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    vsearch.Index(32, M=16, ef_construction=200).add(_slow_batch(), threads=1, progress=True)
    assert terminal.text.startswith("\r") and terminal.text.endswith("\n") and terminal.text.count("\n") == 1
    assert " ETA " in terminal.text and "6000/6000" in terminal.text


def test_progress_callback_gets_done_and_total_and_finishes_at_total():
    calls = []
    index = _index()
    index.add(_slow_batch(3000)[:, :DIM], progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (3000, 3000) and all(total == 3000 for _, total in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_progress_default_follows_one_large_batch_threshold(monkeypatch):
    from vsearch import _progress

    assert f"{_progress.LARGE_BATCH:,} vectors" in vsearch.Index.add.__doc__
    index = _index()
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(_progress, "LARGE_BATCH", len(DATA))
    index.add(DATA[:-1] + 1)
    assert terminal.text == ""
    index.add(DATA + 2)
    assert f"{len(DATA)}/{len(DATA)}" in terminal.text


def test_progress_rejects_what_is_neither_a_flag_nor_a_function():
    index = _index()
    before = _state(index)
    with pytest.raises(errors.InvalidParameterError, match=r"progress must be True, False, None .* or a function "
                                                           r"progress\(done, total\); got 'yes'"):
        index.add(DATA[:3] + 1, progress="yes")
    assert _state(index) == before


def test_gssf_fit_reports_epochs_to_a_callback(capsys):
    calls = []
    vsearch.GSSF(4, 2).fit(DATA[:, :4], np.arange(40) % 2, epochs=3, patience=10,
                           progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    vsearch.GSSF(4, 2).fit(DATA[:, :4], np.arange(40) % 2, epochs=3, patience=10, progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert lines and lines[-1].startswith("training GSSF [") and "3/3" in lines[-1]


# ----------------------------------------------------------------------------- save and load targets
def test_save_into_a_missing_folder_names_the_target_not_the_temporary_file(tmp_path):
    target = tmp_path / "missing" / "x.vsx"
    with pytest.raises(FileNotFoundError) as caught:
        _index().save(target)
    assert caught.value.filename == str(target)
    assert str(caught.value) == f"[Errno 2] cannot save there: No such file or directory: '{target}'"
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_save_into_a_read_only_folder_names_the_target(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(PermissionError) as caught:
            _index().save(folder / "x.vsx")
    finally:
        folder.chmod(0o755)
    assert caught.value.filename == str(folder / "x.vsx") and "cannot save there" in str(caught.value)
    assert os.listdir(folder) == []


def test_save_onto_a_read_only_file_system_names_the_target(tmp_path, monkeypatch):
    """As on a read-only mount (which root, too, cannot write): every create in the folder fails with EROFS."""
    import errno
    from vsearch import _atomic_file

    real_open = os.open

    def read_only_open(path, flags, *args, **kwargs):
        if flags & (os.O_CREAT | _atomic_file.ANONYMOUS_FLAG) and os.fspath(path).startswith(str(tmp_path)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(_atomic_file.os, "open", read_only_open)
    with pytest.raises(OSError) as caught:
        _index().save(tmp_path / "x.vsx")
    assert caught.value.errno == errno.EROFS and caught.value.filename == str(tmp_path / "x.vsx")
    assert "cannot save there: Read-only file system" in str(caught.value)


def test_save_to_a_file_object_writes_the_bytes_of_a_saved_file(tmp_path):
    import io

    index = _index()
    index.save(tmp_path / "x.vsx")
    buffer = io.BytesIO(b"head")
    buffer.seek(4)
    index.save(buffer)
    assert buffer.getvalue() == b"head" + (tmp_path / "x.vsx").read_bytes() == b"head" + bytes(index)
    with open(tmp_path / "y.vsx", "wb") as f:
        index.save(f)
    assert (tmp_path / "y.vsx").read_bytes() == bytes(index)


def test_load_from_file_objects_gives_the_same_index(tmp_path):
    import io

    index = _index()
    index.save(tmp_path / "x.vsx")
    with open(tmp_path / "x.vsx", "rb") as f:
        from_file = vsearch.load(f)
        assert f.tell() == os.path.getsize(tmp_path / "x.vsx")
    buffer = io.BytesIO(b"skip" + bytes(index))
    buffer.seek(4)  # read from the position, like a file object holding a header of its own
    from_buffer = vsearch.load(buffer)

    class Pipe:  # read() only: no seek, no readinto
        def __init__(self, data):
            self.data = data

        def read(self, size=-1):
            data, self.data = self.data, b""
            return data

    from_pipe = vsearch.load(Pipe(bytes(index)))
    for loaded in (from_file, from_buffer, from_pipe):
        assert bytes(loaded) == bytes(index)
        assert _state(loaded) == _state(index)


def test_loading_hostile_bytes_from_a_file_object_is_an_index_format_error(tmp_path):
    import io

    data = bytearray(bytes(_index()))
    truncated, corrupted = bytes(data[:-10]), data
    corrupted[-3] ^= 0xFF
    with pytest.raises(errors.IndexFormatError, match="truncated"):
        vsearch.load(io.BytesIO(truncated))
    (tmp_path / "bad.vsx").write_bytes(bytes(corrupted))
    with open(tmp_path / "bad.vsx", "rb") as f, pytest.raises(errors.IndexFormatError) as caught:
        vsearch.load(f)
    assert str(caught.value).startswith(f"{tmp_path / 'bad.vsx'}: section ") and "checksum" in str(caught.value)
    with pytest.raises(errors.IndexFormatError, match="wrong magic"):
        vsearch.load(io.BytesIO(b"\0" * 100))


def test_file_objects_need_binary_mode_and_cannot_be_mapped(tmp_path):
    import io

    index = _index()
    index.save(tmp_path / "x.vsx")
    with open(tmp_path / "x.vsx", "rb") as f, pytest.raises(errors.InvalidParameterError) as caught:
        vsearch.load(f, mmap=True)
    assert str(caught.value) == ("mmap=True needs a path: a file object cannot be memory-mapped; pass the file's "
                                 "path, or load without mmap")
    with open(tmp_path / "x.vsx", "r") as f, pytest.raises(errors.InvalidParameterError, match=r"binary mode \('rb'\)"):
        vsearch.load(f)
    with pytest.raises(errors.InvalidParameterError, match=r"open it in binary mode \('wb'\)"):
        index.save(io.StringIO())


# ----------------------------------------------------------------------------- one source of truth
def test_defaults_are_the_cores():
    import inspect

    signature = inspect.signature(vsearch.Index.__init__).parameters
    assert (signature["M"].default, signature["ef_construction"].default, signature["ef"].default) == (
        _core.DEFAULT_M, _core.DEFAULT_EF_CONSTRUCTION, _core.DEFAULT_EF)
    assert (limits.DEFAULT_M, limits.DEFAULT_EF_CONSTRUCTION, limits.DEFAULT_EF) == (
        _core.DEFAULT_M, _core.DEFAULT_EF_CONSTRUCTION, _core.DEFAULT_EF)
    native = _core.HnswIndex(_core.make_params(4, "l2"))  # the C++ IndexParams defaults
    assert (native.M, native.ef_construction, native.ef) == (limits.DEFAULT_M, limits.DEFAULT_EF_CONSTRUCTION,
                                                             limits.DEFAULT_EF)
    index = vsearch.Index(4)
    assert (index.M, index.ef_construction, index.ef) == (16, 200, 64)  # and they are what the docs promise


def test_limits_metrics_and_sections_are_the_cores():
    from vsearch import _format

    assert (limits.MAX_THREADS, limits.MAX_GSSF_BLOCK_SIZE) == (_core.MAX_THREADS, _core.MAX_GSSF_BLOCK_SIZE)
    assert vsearch.METRICS == tuple(m for m in _core.METRICS if m not in ("gssf", "custom")) == (
        "l2", "ip", "cosine", "snr")
    assert _format.SECTION_ALIGNMENT == _core.ROW_ALIGNMENT == 64
    assert [_core.row_stride(d) for d in (1, 16, 17, 100)] == [16, 16, 32, 112]
    assert _core.ROW_SCALAR_SECTIONS == {"cosine": "scales", "gssf": "scales", "snr": "means"}
    for metric, section in _core.ROW_SCALAR_SECTIONS.items():
        if metric != "gssf":
            index = vsearch.Index(DIM, metric)
            index.add(DATA[:3])
            assert section in index._core.sections()


def test_format_md_states_the_cores_limits():
    import math
    import re

    text = " ".join(open(os.path.join(os.path.dirname(vsearch.__file__), "FORMAT.md")).read().split())
    power = lambda value: f"2^{int(math.log2(value))}"  # noqa: E731
    assert (f"`dim` <= {power(limits.MAX_DIM)}, 2 <= `M` <= {limits.MAX_M}, 1 <= `ef`, `ef_construction` <= "
            f"{power(limits.MAX_EF)}, `count` <= {power(limits.MAX_ELEMENTS + 1)} - 1, `max_level` <= "
            f"{limits.MAX_LEVEL}") in text
    stride = _core.row_stride(1)
    assert f"`dim` rounded up to a multiple of {stride}" in text
    assert f"each starts on a multiple of {_core.ROW_ALIGNMENT} bytes" in text
    assert f"(divides dim, at most {limits.MAX_GSSF_BLOCK_SIZE})" in text
    assert re.search(rf"\b{_core.MAX_UPPER_BLOCKS + 1:#X}\b".replace("0X", "0x"), text)  # the "no block" mark


def test_a_file_with_a_gssf_block_past_the_limit_is_rejected():
    import format_tools as ft

    model = vsearch.GSSF(16, 16)
    index = vsearch.Index(16, model)
    index.add(rng.standard_normal((3, 16)))
    parsed = ft.parse(bytes(index))
    data = ft.with_descriptor(parsed, metric_params={"block_size": limits.MAX_GSSF_BLOCK_SIZE * 2})
    with pytest.raises(errors.IndexFormatError, match=rf"'block_size' = {limits.MAX_GSSF_BLOCK_SIZE * 2} is outside"):
        vsearch.Index.from_bytes(data)


def test_the_licence_file_is_the_apache_license_pyproject_names():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "pyproject.toml")) as f:
        assert 'license = { text = "Apache-2.0" }' in f.read()
    with open(os.path.join(root, "LICENSE")) as f:
        text = f.read()
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    for clause in ("1. Definitions.", "2. Grant of Copyright License.", "3. Grant of Patent License.",
                   "4. Redistribution.", "9. Accepting Warranty or Additional Liability.", "END OF TERMS AND CONDITIONS"):
        assert clause in text
