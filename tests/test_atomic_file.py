"""vsearch._atomic_file, and Index.save through it: atomic, no temporary file left, dead writers' files removed.

Each save runs in one of three modes:

* ``anonymous``: the default where the folder allows O_TMPFILE: the file is named only when complete;
* ``named``: ``ANONYMOUS_FLAG = 0``, the fallback of other OSes and file systems: a locked named file
  from the start;
* ``copy``: linking the complete anonymous file fails, so it is copied (sendfile) into a named one.

The ``mode`` fixture also counts links and copies, so each test can check that the save really took
the path it claims to test.
"""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

fcntl = pytest.importorskip(
    "fcntl", reason="advisory locks (fcntl) are POSIX-only: dead writers cannot be told from live ones"
)

import vsearch  # noqa: E402
from vsearch import _atomic_file, persistence  # noqa: E402

TARGET = "x.vsx"
HEX = "0123456789abcdef"


def small_index() -> vsearch.Index:
    index = vsearch.Index(8)
    index.add(np.random.default_rng(0).random((50, 8), dtype=np.float32))
    return index


def other_index() -> vsearch.Index:
    index = vsearch.Index(8)
    index.add(np.random.default_rng(1).random((30, 8), dtype=np.float32))
    return index


def anonymous_files_work(folder) -> bool:
    """True if the OS has O_TMPFILE and the file system of `folder` accepts it."""
    if not _atomic_file.ANONYMOUS_FLAG:
        return False
    try:
        fd = os.open(folder, _atomic_file.ANONYMOUS_FLAG | os.O_RDWR, 0o600)
    except OSError:
        return False
    os.close(fd)
    return True


def listing(folder) -> list[str]:
    return sorted(os.listdir(folder))


def make_file(path, data: bytes = b"partial") -> None:
    with open(path, "wb") as fh:
        fh.write(data)


class Mode:
    def __init__(self, name: str) -> None:
        self.name = name
        self.links = 0  # calls of link_anonymous_file (failed ones too)
        self.copies = 0  # anonymous files copied into named ones

    def check_path_taken(self, saves: int) -> None:
        """The saves went the way this mode says (not silently another)."""
        expected = {"anonymous": (saves, 0), "named": (0, 0), "copy": (saves, saves)}[self.name]
        assert (self.links, self.copies) == expected, f"{self.name}: links, copies"


@pytest.fixture(params=["anonymous", "named", "copy"])
def mode(request, monkeypatch, tmp_path) -> Mode:
    m = Mode(request.param)
    if m.name in ("anonymous", "copy") and not anonymous_files_work(tmp_path):
        pytest.skip("no anonymous (O_TMPFILE) files here")
    if m.name == "named":
        monkeypatch.setattr(_atomic_file, "ANONYMOUS_FLAG", 0)
    link, copy = _atomic_file._core.link_anonymous_file, _atomic_file._copy

    def counting_link(fd, path):
        m.links += 1
        if m.name == "copy":
            raise OSError(errno.EXDEV, "linking refused by the test", path)
        return link(fd, path)

    def counting_copy(source, target):
        m.copies += 1
        return copy(source, target)

    monkeypatch.setattr(_atomic_file._core, "link_anonymous_file", counting_link)
    monkeypatch.setattr(_atomic_file, "_copy", counting_copy)
    return m


def assert_same_search(a: vsearch.Index, b: vsearch.Index) -> None:
    queries = np.random.default_rng(7).random((10, 8), dtype=np.float32)
    ra, rb = a.search(queries, k=5, threads=1), b.search(queries, k=5, threads=1)
    assert np.array_equal(ra.ids, rb.ids) and np.array_equal(ra.distances, rb.distances)


# ----------------------------------------------------------------------------- successful saves


def test_save_leaves_only_the_target_and_loads_back_equal(tmp_path, mode):
    index = small_index()
    target = tmp_path / TARGET
    index.save(target)  # a new file
    assert listing(tmp_path) == [TARGET]
    other_index().save(target)  # over an existing one
    index.save(target)
    assert listing(tmp_path) == [TARGET]
    mode.check_path_taken(saves=3)
    assert target.read_bytes() == bytes(index)
    loaded = vsearch.load(target)
    assert len(loaded) == 50
    assert_same_search(index, loaded)
    assert_same_search(index, vsearch.load(target, mmap=True, verify=True))


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_saved_file_mode_follows_the_umask(tmp_path, mode, umask, expected):
    """0o666 minus the umask, like open(path, "wb") (not mkstemp's 0o600), on every path."""
    old = os.umask(umask)
    try:
        small_index().save(tmp_path / TARGET)
    finally:
        os.umask(old)
    assert (tmp_path / TARGET).stat().st_mode & 0o777 == expected
    assert listing(tmp_path) == [TARGET]
    mode.check_path_taken(saves=1)


def test_save_folder_listings_while_writing(tmp_path, mode, monkeypatch):
    """While the data is written: anonymous -> nothing visible; named -> one locked temporary file of
    the target, which remove_abandoned (as another save would) leaves alone."""
    real_write = persistence.write
    seen = []

    def watching_write(core, spec, out):
        names = [n for n in listing(tmp_path) if n != TARGET]
        seen.append(names)
        if mode.name == "named":
            assert len(names) == 1 and _atomic_file.is_temporary_of(names[0], TARGET), names
            assert _atomic_file.remove_abandoned(str(tmp_path), TARGET) == 0
            assert (tmp_path / names[0]).exists()
        real_write(core, spec, out)

    monkeypatch.setattr(persistence, "write", watching_write)
    small_index().save(tmp_path / "x.vsx")  # a new file
    small_index().save(tmp_path / "x.vsx")  # over the old one
    assert len(seen) == 2
    if mode.name != "named":
        assert seen == [[], []], "the anonymous file got a name before it was complete"
    assert listing(tmp_path) == [TARGET]
    mode.check_path_taken(saves=2)


# ----------------------------------------------------------------------------- failed saves


class WriteFailed(RuntimeError):
    pass


@pytest.mark.parametrize("error", [WriteFailed, KeyboardInterrupt])
def test_save_failing_mid_write_keeps_the_old_file_and_leaves_nothing(tmp_path, mode, monkeypatch, error):
    target = tmp_path / TARGET
    other_index().save(target)
    old = target.read_bytes()
    calls = []

    def failing_write(core, spec, out):
        out.write(b"VSX partial header" + bytes(5000))
        out.flush()
        calls.append(1)
        raise error("disk on fire")

    monkeypatch.setattr(persistence, "write", failing_write)
    with pytest.raises(error):
        small_index().save(target)
    assert calls == [1]
    assert target.read_bytes() == old
    assert listing(tmp_path) == [TARGET]
    # and to a new target: nothing at all appears
    with pytest.raises(error):
        small_index().save(tmp_path / "new.vsx")
    assert listing(tmp_path) == [TARGET]
    mode.check_path_taken(saves=1)  # the first save only: the failed ones stopped before the file was complete


def test_save_failing_at_the_rename_leaves_nothing(tmp_path, mode, monkeypatch):
    """The file has its temporary name by then (linked, copied or named from the start): it is removed."""
    target = tmp_path / TARGET
    other_index().save(target)
    old = target.read_bytes()
    names_at_rename = []

    def failing_replace(source, destination):
        names_at_rename.append(os.path.basename(source))
        raise OSError(errno.EIO, "rename refused by the test", source)

    with monkeypatch.context() as m:
        m.setattr(_atomic_file.os, "replace", failing_replace)
        with pytest.raises(OSError, match="rename refused"):
            small_index().save(target)
    assert len(names_at_rename) == 1 and _atomic_file.is_temporary_of(names_at_rename[0], TARGET)
    assert target.read_bytes() == old
    assert listing(tmp_path) == [TARGET]
    mode.check_path_taken(saves=2)  # the first save, and the failed one (complete when it failed)


def test_copy_fallback_that_fails_leaves_nothing(tmp_path, monkeypatch):
    """The link fails and so does the copy (sendfile stops): the half-copied named file is removed."""
    if not anonymous_files_work(tmp_path):
        pytest.skip("no anonymous (O_TMPFILE) files here")
    target = tmp_path / TARGET
    other_index().save(target)
    old = target.read_bytes()

    def refuse(fd, path):
        raise OSError(errno.EXDEV, "linking refused by the test", path)

    real_sendfile = os.sendfile
    calls = []

    def short_sendfile(out_fd, in_fd, offset, count):
        calls.append(offset)
        if len(calls) == 1:
            return real_sendfile(out_fd, in_fd, offset, min(count, 1000))
        return 0  # as if the source ended early

    with monkeypatch.context() as m:
        m.setattr(_atomic_file._core, "link_anonymous_file", refuse)
        m.setattr(_atomic_file.os, "sendfile", short_sendfile)
        with pytest.raises(OSError, match="copying the temporary file stopped at byte 1000"):
            small_index().save(target)
    assert calls == [0, 1000]
    assert target.read_bytes() == old
    assert listing(tmp_path) == [TARGET]


# ----------------------------------------------------------------------------- files of dead and live writers


def test_abandoned_temporary_files_are_removed_by_the_next_save(tmp_path, mode):
    abandoned = [f".{TARGET}.{HEX}.tmp", f".{TARGET}.{'0' * 16}.tmp", f".{TARGET}.{'f' * 16}.tmp"]
    make_file(tmp_path / abandoned[0])
    make_file(tmp_path / abandoned[1], b"")
    make_file(tmp_path / abandoned[2], bytes(small_index())[:100])
    small_index().save(tmp_path / TARGET)
    assert listing(tmp_path) == [TARGET]
    mode.check_path_taken(saves=1)


def test_remove_abandoned_counts_what_it_removed(tmp_path):
    names = [f".{TARGET}.{HEX}.tmp", f".{TARGET}.{HEX[::-1]}.tmp"]
    for name in names:
        make_file(tmp_path / name)
    (tmp_path / TARGET).write_bytes(b"the target itself is not a temporary file")
    assert _atomic_file.remove_abandoned(str(tmp_path), TARGET) == 2
    assert listing(tmp_path) == [TARGET]
    assert _atomic_file.remove_abandoned(str(tmp_path), TARGET) == 0
    assert _atomic_file.remove_abandoned(str(tmp_path / "missing"), TARGET) == 0


LOOK_ALIKES = [
    f".y.vsx.{HEX}.tmp",  # another target's
    f".x.{HEX}.tmp",  # the target "x"'s, not "x.vsx"'s
    f".x.vsx.{HEX[:15]}.tmp",  # 15 hex digits
    f".x.vsx.{HEX}0.tmp",  # 17 hex digits
    f".x.vsx.{HEX.upper()}.tmp",  # uppercase hex
    f".x.vsx.{HEX[:15]}g.tmp",  # not hex
    f"x.vsx.{HEX}.tmp",  # no leading dot
    f"..x.vsx.{HEX}.tmp",  # two leading dots
    f".x.vsx.{HEX}.tmp~",  # something after the suffix
    f".x.vsx.{HEX}.tmp.bak",
    f".x.vsx.{HEX}.TMP",
    f".x.vsx.{HEX}",  # no suffix
    f".x.vsx{HEX}.tmp",  # no dot before the token
    f".x.vsx..{HEX}.tmp",
    ".x.vsx.tmp",
    ".x.vsx..tmp",
    f".X.VSX.{HEX}.tmp",  # the target's name in another case
]


def test_look_alikes_are_left_alone(tmp_path, mode):
    for name in LOOK_ALIKES:
        make_file(tmp_path / name)
    small_index().save(tmp_path / TARGET)
    assert _atomic_file.remove_abandoned(str(tmp_path), TARGET) == 0
    assert listing(tmp_path) == sorted(LOOK_ALIKES + [TARGET])
    mode.check_path_taken(saves=1)


def test_temporary_file_locked_by_a_live_writer_is_left_alone(tmp_path):
    path = tmp_path / f".{TARGET}.{HEX}.tmp"
    make_file(path)
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert _atomic_file.remove_abandoned(str(tmp_path), TARGET) == 0
        small_index().save(tmp_path / TARGET)  # its own clean-up leaves it too
        assert listing(tmp_path) == sorted([TARGET, path.name])
        fcntl.flock(fd, fcntl.LOCK_UN)  # the writer is done with it (or died)
        assert _atomic_file.remove_abandoned(str(tmp_path), TARGET) == 1
        assert listing(tmp_path) == [TARGET]
    finally:
        os.close(fd)


def test_named_temporary_file_of_a_live_writer_is_left_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(_atomic_file, "ANONYMOUS_FLAG", 0)
    with _atomic_file.TemporaryFile(str(tmp_path), TARGET) as live:
        assert live.path is not None and _atomic_file.is_temporary_of(os.path.basename(live.path), TARGET)
        os.write(live.fd, b"half written")
        assert _atomic_file.remove_abandoned(str(tmp_path), TARGET) == 0
        small_index().save(tmp_path / TARGET)  # another save to the same target meanwhile
        assert listing(tmp_path) == sorted([TARGET, os.path.basename(live.path)])
    assert listing(tmp_path) == [TARGET]  # close() removed it


def test_linked_anonymous_file_stays_locked_until_renamed(tmp_path):
    """Between the link and the rename the file has a name: the writer's lock must cover it."""
    if not anonymous_files_work(tmp_path):
        pytest.skip("no anonymous (O_TMPFILE) files here")
    data = bytes(small_index())
    with _atomic_file.TemporaryFile(str(tmp_path), TARGET) as live:
        assert live.path is None  # anonymous
        os.write(live.fd, data)
        assert listing(tmp_path) == []
        live._give_name()
        assert listing(tmp_path) == [os.path.basename(live.path)]
        assert _atomic_file.remove_abandoned(str(tmp_path), TARGET) == 0
        live.replace(str(tmp_path / TARGET))
    assert listing(tmp_path) == [TARGET]
    assert (tmp_path / TARGET).read_bytes() == data
    assert vsearch.load(tmp_path / TARGET).dim == 8


HOLDER = textwrap.dedent(
    """
    import os, sys
    from vsearch import _atomic_file
    _atomic_file.ANONYMOUS_FLAG = 0
    live = _atomic_file.TemporaryFile(sys.argv[1], sys.argv[2])
    os.write(live.fd, b"half written")
    print(live.path, flush=True)
    sys.stdin.read()  # until killed
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_file_of_a_killed_writer_is_removed_and_of_a_live_one_kept(tmp_path):
    """Another process's locks: its file is kept while it lives, removed once it is killed."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path), TARGET], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        path = child.stdout.readline().decode().strip()
        assert path and os.path.dirname(path) == str(tmp_path), path
        assert _atomic_file.remove_abandoned(str(tmp_path), TARGET) == 0
        small_index().save(tmp_path / TARGET)
        assert listing(tmp_path) == sorted([TARGET, os.path.basename(path)])
        child.kill()
        child.wait(timeout=10)
        assert listing(tmp_path) == sorted([TARGET, os.path.basename(path)])  # a killed writer cannot clean up
        small_index().save(tmp_path / TARGET)
        assert listing(tmp_path) == [TARGET]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdin.close()
        child.stdout.close()


# ----------------------------------------------------------------------------- names


def test_is_temporary_of_accepts_exactly_the_generated_names(tmp_path):
    for target in (TARGET, "x", "a.b.c", "with space.vsx", ".hidden.vsx", "0123456789abcdef", "é.vsx"):
        for _ in range(50):
            path = _atomic_file._temporary_path(str(tmp_path), target)
            folder, name = os.path.split(path)
            assert folder == str(tmp_path)
            assert name.startswith(f".{target}.") and name.endswith(".tmp")
            assert _atomic_file.is_temporary_of(name, target), name
            # ... and only for its own target
            upper = "y" if target.upper() == target else target.upper()
            others = (target + "x", target[:-1], "." + target, target + ".", upper)
            for other in others:
                assert not _atomic_file.is_temporary_of(name, other), (name, other)


def test_is_temporary_of_rejects_near_misses():
    assert _atomic_file.is_temporary_of(f".{TARGET}.{HEX}.tmp", TARGET)
    for name in LOOK_ALIKES + [TARGET, "", ".", ".tmp", f".{TARGET}.", f".{TARGET}.{' ' * 16}.tmp"]:
        assert not _atomic_file.is_temporary_of(name, TARGET), name
    # a temporary file of "x.vsx.0123456789abcdef.tmp" (a target that is itself named like one) is not x.vsx's
    nested = f".{TARGET}.{HEX}.tmp.{HEX}.tmp"
    assert _atomic_file.is_temporary_of(nested, f"{TARGET}.{HEX}.tmp")
    assert not _atomic_file.is_temporary_of(nested, TARGET)


@pytest.mark.parametrize("length", [200, 233, 234, 251])
def test_long_target_names_save_and_their_leftovers_are_recognised(tmp_path, length):
    name = "a" * (length - 4) + ".vsx"
    index = small_index()
    index.save(tmp_path / name)
    assert listing(tmp_path) == [name]
    assert_same_search(vsearch.load(tmp_path / name), index)
    leftover = Path(_atomic_file._temporary_path(str(tmp_path), name))
    assert len(leftover.name.encode()) <= 255
    assert _atomic_file.is_temporary_of(leftover.name, name)
    assert not _atomic_file.is_temporary_of(leftover.name, name[1:])
    make_file(leftover)
    index.save(tmp_path / name)
    assert listing(tmp_path) == [name]


def test_a_fifo_named_like_a_temporary_file_neither_blocks_nor_goes(tmp_path):
    fifo = tmp_path / ".x.vsx.0123456789abcdef.tmp"
    os.mkfifo(fifo)
    small_index().save(tmp_path / "x.vsx")  # would block forever opening the FIFO
    assert sorted(listing(tmp_path)) == sorted([fifo.name, "x.vsx"])
