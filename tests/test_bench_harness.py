"""The benchmark harness end to end on tiny data: engine adapters, skipping what is
not installed, the CLI, its reports, and the fallback without the shared data."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.append(str(REPO))  # `bench` lives at the repo root

from bench import __main__ as cli  # noqa: E402
from bench import engines, measures  # noqa: E402
from bench.distances import exact_topk, rowwise, spec  # noqa: E402
from bench.suites import SUITES  # noqa: E402

RNG = np.random.default_rng(1)
BASE = RNG.standard_normal((400, 12)).astype(np.float32)
QUERIES = RNG.standard_normal((20, 12)).astype(np.float32)


def usable(name: str) -> bool:
    return engines.ENGINES[name].unavailable() is None


@pytest.mark.parametrize("name", ["vsearch", "hnswlib", "faiss", "exact", "usearch"])
@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_engine_adapter_finds_the_neighbours(name, metric):
    if not usable(name):
        pytest.skip(f"{name}: {engines.ENGINES[name].unavailable()}")
    m = spec(metric)
    e = engines.ENGINES[name](threads=1)
    assert e.supports(m)
    e.build(BASE, m, engines.BuildParams(M=8, ef_construction=64))
    e.set_ef(200)
    one = np.stack([e.search_one(q, 5) for q in e.prepare(QUERIES)])
    batch = e.search_batch(QUERIES, 5)
    _, gt = exact_topk(BASE, QUERIES, m, 5)
    for found in (one, batch):
        assert found.shape == (20, 5)
        assert measures.recall_at_k(rowwise(m, QUERIES, BASE, found), gt, 5) >= 0.95
    size = e.index_bytes()
    assert size is None or size >= BASE.nbytes * (0.9 if name != "exact" else 1)
    e.close()


def test_exact_engine_snr():
    e = engines.ExactEngine()
    e.build(BASE, spec("snr"), engines.BuildParams(8, 64))
    ids, _ = exact_topk(BASE, QUERIES, spec("snr"), 3)
    assert np.array_equal(e.search_batch(QUERIES, 3), ids)


def test_missing_engine_is_skipped_with_a_reason(monkeypatch):
    class Ghost(engines.ExactEngine):
        name, module, distribution = "ghost", "no_such_module_for_vsearch_bench", "ghost-ann"

    monkeypatch.setitem(engines.ENGINES, "ghost", Ghost)
    ok, skipped = engines.available(["exact", "ghost", "nonsense"])
    assert ok == ["exact"]
    assert "not installed" in skipped["ghost"] and "pip install ghost-ann" in skipped["ghost"]
    assert "unknown engine" in skipped["nonsense"]


def _npz(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.npz"
    labels = (np.arange(400) % 4).astype(np.int32)
    np.savez(path, base=BASE, queries=QUERIES, base_labels=labels, query_labels=labels[:20])
    return path


def run_cli(tmp_path: Path, *extra: str) -> tuple[int, Path]:
    out = tmp_path / "out"
    code = cli.main(["--engines", "vsearch,hnswlib,exact,ghost", "--ef", "10,40", "--reps", "1", "--min-calls", "20",
                     "--no-memory", "--no-gssf", "--out", str(out), "--cache-dir", str(tmp_path / "cache"), *extra])
    return code, out


def test_cli_end_to_end_on_a_tiny_npz(tmp_path, capsys):
    if not usable("vsearch"):
        pytest.skip("vsearch is not importable")
    code, out = run_cli(tmp_path, "--datasets", str(_npz(tmp_path)))
    text = capsys.readouterr().out
    assert code == 0
    assert "engine ghost skipped: unknown engine" in text                    # one line, no crash
    assert "## Summary" in text and "| tiny | l2 |" in text                  # the markdown table
    results = json.loads((out / "results.json").read_text())
    ds = results["datasets"][0]
    assert ds["funnel"]["rows"][0]["metric"] == "l2" and "suggested" in ds["funnel"]
    runs = {r["engine"]: r for r in ds["sweeps"][0]["runs"]}
    assert set(runs) >= {"vsearch", "exact"} and [p["ef"] for p in runs["vsearch"]["points"]] == [10, 40]
    point = runs["vsearch"]["points"][-1]
    assert point["recall"] > 0.9 and point["qps"] > 0 and "knn_acc@10" in point["tasks"]["queries"]
    assert "ratio" in ds["sweeps"][0]["summary"]
    assert (out / "report.md").read_text().startswith("# vsearch benchmark report")
    plots = sorted(p.name for p in out.glob("*.png"))
    if importlib.util.find_spec("matplotlib") is None:               # plots are skipped with a notice
        assert plots == [] and "matplotlib is not installed" in text
    else:
        assert plots == ["recall_qps_tiny_l2.png", "task_qps_tiny_l2.png"]


def test_cli_reports_a_malformed_file_by_name(tmp_path, capsys):
    bad = tmp_path / "broken.fvecs"
    bad.write_bytes(b"\x03\x00\x00\x00abc")
    code, _ = run_cli(tmp_path, "--datasets", str(bad), "--engines", "exact", "--no-plots")
    assert code == cli.EXIT_DATASET_FAILED
    assert "error: " + str(bad) in capsys.readouterr().out


def test_fallback_without_shared_data(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VSEARCH_DATA", str(tmp_path / "absent"))
    names = cli.suite_datasets(SUITES["default"], cli.Clock())
    assert names[0] == "sklearn-digits" and "synthetic-clustered" in names
    assert "no shared datasets" in capsys.readouterr().out


def test_help_documents_every_option():
    out = subprocess.run([sys.executable, "-m", "bench", "--help"], capture_output=True, text=True, cwd=REPO,
                         check=True).stdout
    for action in cli.parser()._actions:
        for flag in action.option_strings:
            assert flag in out
        assert action.help, f"{action.option_strings} has no help"


def test_gssf_joins_the_funnel_when_vsearch_ships_it(tmp_path, monkeypatch):
    vsearch = pytest.importorskip("vsearch")
    from bench import datasets, funnel
    from bench.model import RunConfig
    from bench.sweep import Runner
    from bench.suites import DEFAULT

    class FakeGSSF:
        """Stands in for vsearch.GSSF: a 'learned' similarity that is plain cosine."""

        def __init__(self, dim, block_size=16):
            self.dim, self.block_size = dim, block_size

        def fit(self, vectors, labels, progress=None):
            assert len(vectors) == len(labels) and vectors.shape[1] % self.block_size == 0
            return self

        def distance(self, x, y):
            return spec("cosine").pairwise(np.atleast_2d(x).astype(np.float64), np.atleast_2d(y).astype(np.float64))

        def weights(self):
            return np.ones(self.dim, np.float32)

    monkeypatch.setattr(vsearch, "GSSF", FakeGSSF, raising=False)
    ds = datasets.load_path(_npz(tmp_path))
    cfg = RunConfig(suite=DEFAULT, engines=["vsearch", "exact"], ef_sweep=(16,), cache_dir=tmp_path / "cache")
    runner = Runner(cfg, log=lambda message: None)
    result = funnel.run_funnel(ds, ds.query_sets, runner, {})
    rows = {r["metric"]: r for r in result["rows"]}
    assert list(rows)[:4] == ["l2", "ip", "cosine", "snr"] and "gssf" in rows
    assert rows["gssf"]["exact"] == rows["cosine"]["exact"]      # the fake is cosine
    assert result["suggested"] in ("l2", "ip") and result["best"]
