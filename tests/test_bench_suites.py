"""The harness's suites end to end on tiny data (speed, metric-speed, persistence, gssf),
their goals, the reference runs that rewrite the README, VSEARCH_DATA and --help on
every entry point, and the shape of the bench package (no import cycles)."""
from __future__ import annotations

import ast
import dataclasses
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.append(str(REPO))  # `bench` lives at the repo root

from bench import __main__ as cli  # noqa: E402
from bench import datasets, goals, reference  # noqa: E402
from bench.engines import ENGINES  # noqa: E402
from bench.suites import CALL_COST_EF, CALL_COST_VECTORS, SUITES  # noqa: E402

pytestmark = pytest.mark.skipif(ENGINES["vsearch"].unavailable() is not None, reason="vsearch is not importable")
QUICK = ("--reps", "1", "--min-calls", "20", "--no-plots")


def needs(*engines: str) -> None:
    for name in engines:
        reason = ENGINES[name].unavailable()
        if reason:
            pytest.skip(f"{name}: {reason}")


def run(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "out"
    assert cli.main([*args, *QUICK, "--out", str(out), "--cache-dir", str(tmp_path / "cache")]) == 0
    return json.loads((out / "results.json").read_text())


def test_speed_suite_compares_at_equal_recall_with_goals(tmp_path):
    needs("hnswlib")
    results = run(tmp_path, "--suite", "speed", "--datasets", "synthetic-clustered:1500", "--engines",
                  "vsearch,vsearch-f16,hnswlib", "--ef", "10,20,80", "--no-memory")
    ds = results["datasets"][0]
    assert ds["kind"] == "sweep" and ds["funnel"] is None                 # the speed suite has no funnel
    assert [r["engine"] for r in ds["sweeps"][0]["runs"]] == ["vsearch", "vsearch-f16", "hnswlib"]
    assert ds["n"] == 1500 and ds["dim"] == 128                            # the suite's shape, the size asked for
    found = {g["goal"] for g in results["goals"]}
    assert found == {"qps-vs-hnswlib", "f16-qps-vs-hnswlib", "build-vs-hnswlib", "call-cost-vs-hnswlib"}  # no memory
    half = next(g for g in results["goals"] if g["goal"] == "f16-qps-vs-hnswlib")
    qps = ds["sweeps"][0]["summary"]["qps"]
    assert half["value"] == pytest.approx(qps["vsearch-f16"]["0.95"]["qps"] / qps["hnswlib"]["0.95"]["qps"])
    build = next(g for g in results["goals"] if g["goal"] == "build-vs-hnswlib")
    runs = {r["engine"]: r for r in ds["sweeps"][0]["runs"]}
    assert build["value"] == pytest.approx(runs["vsearch"]["build_s"] / runs["hnswlib"]["build_s"])
    cost = ds["call_cost"]                                                 # one call on a tiny index
    assert (cost["vectors"], cost["ef"], cost["k"]) == (CALL_COST_VECTORS, CALL_COST_EF, 10)
    assert set(cost["us_per_call"]) == {"vsearch", "vsearch-f16", "hnswlib"} and all(0 < us < 1e5 for us in cost["us_per_call"].values())
    call = next(g for g in results["goals"] if g["goal"] == "call-cost-vs-hnswlib")
    assert call["value"] == pytest.approx(cost["us_per_call"]["vsearch"] / cost["us_per_call"]["hnswlib"])


def test_metric_speed_suite_interleaves_metrics(tmp_path):
    results = run(tmp_path, "--suite", "metric-speed", "--datasets", "synthetic-clustered:800", "--ef", "16,64")
    ds = results["datasets"][0]
    assert ds["kind"] == "metric-speed" and ds["reference_metric"] == "l2"
    assert [r["metric"] for r in ds["rows"]] == ["l2", "snr", "ip", "cosine"]
    for row in ds["rows"]:
        assert [p["ef"] for p in row["points"]] == [16, 64]
        assert all(p["recall"] > 0.8 and p["qps"] > 0 for p in row["points"])
    assert all(p["qps_vs_reference"] == 1.0 for p in ds["rows"][0]["points"])
    snr = [p["qps"] / l2["qps"] for p, l2 in zip(ds["rows"][1]["points"], ds["rows"][0]["points"])]
    assert results["goals"] == [{"goal": "snr-vs-l2", "what": goals.GOALS["snr-vs-l2"].what,
                                 "dataset": ds["name"], "value": pytest.approx(min(snr)), "target": ">= 0.9",
                                 "met": min(snr) >= 0.9}]


def test_persistence_suite_loads_in_fresh_processes(tmp_path, monkeypatch):
    needs("hnswlib")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))      # where the suite's index files go
    results = run(tmp_path, "--suite", "persistence", "--datasets", "synthetic-clustered:2000")
    rows = {(r["engine"], r["mmap"]): r for r in results["datasets"][0]["rows"]}
    assert set(rows) == {("vsearch", False), ("hnswlib", False), ("vsearch", True)}
    for r in rows.values():
        assert r["file_bytes"] > 2000 * 128 * 4 and r["save_s"] > 0 and r["seconds"] > 0
        assert r["first_query_seconds"] > 0
    assert rows[("vsearch", True)]["file_bytes"] == rows[("vsearch", False)]["file_bytes"]
    assert {g["goal"] for g in results["goals"]} == {"mmap-load-time", "mmap-resident", "load-vs-hnswlib"}
    assert not list(scratch.iterdir())                          # the saved indexes are removed


def test_gssf_suite_measures_what_learning_buys(tmp_path):
    results = run(tmp_path, "--suite", "gssf", "--datasets", "synthetic-misuse:3000", "--no-memory")
    ds = results["datasets"][0]
    rows = {r["metric"]: r for r in ds["funnel"]["rows"]}
    assert ds["funnel"]["ef"] == 200 and "gssf" in rows
    gain = next(g for g in results["goals"] if g["goal"] == "gssf-gain-synthetic")
    recall = {m: rows[m]["ann"]["tasks"]["queries"]["label_recall@10"] for m in ("gssf", "cosine", "l2")}
    assert gain["value"] == pytest.approx(100 * (recall["gssf"] - max(recall["cosine"], recall["l2"])))
    assert gain["met"], f"learned GSSF should beat cosine/l2 by >= 10 points on the misuse set: {recall}"


def test_a_suite_skips_its_absent_shared_datasets(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VSEARCH_DATA", str(tmp_path / "absent"))
    assert cli.suite_datasets(SUITES["speed"], cli.Clock()) == ["synthetic-clustered"]
    assert "shared dataset siftsmall not found" in capsys.readouterr().out


def _tiny_shared(folder: Path) -> Path:
    rng = np.random.default_rng(3)
    (folder / "tinyshared").mkdir(parents=True)
    np.save(folder / "tinyshared" / "base.npy", rng.standard_normal((300, 8)).astype(np.float32))
    np.save(folder / "tinyshared" / "queries.npy", rng.standard_normal((10, 8)).astype(np.float32))
    (folder / "tinyshared" / "meta.json").write_text(json.dumps({"name": "tinyshared", "metric": "l2"}))
    return folder


def test_vsearch_data_is_honoured_everywhere(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VSEARCH_DATA", str(_tiny_shared(tmp_path / "data")))
    assert cli.main(["--list"]) == 0
    assert "datasets: tinyshared" in capsys.readouterr().out
    assert cli.suite_datasets(SUITES["default"], cli.Clock())[0] == "tinyshared"
    results = run(tmp_path, "--datasets", "tinyshared", "--engines", "vsearch", "--ef", "20", "--no-memory")
    assert results["datasets"][0]["source"] == str(tmp_path / "data" / "tinyshared")
    assert results["meta"]["data_dir"] == str(tmp_path / "data")


def entry_points() -> list[str]:
    """Every module of bench that runs as a program."""
    return sorted("bench" if p.stem == "__main__" else f"bench.{p.stem}" for p in (REPO / "bench").glob("*.py")
                  if '__name__ == "__main__"' in p.read_text())


@pytest.mark.parametrize("args", [["bench"], ["bench.probes"], ["bench.probes", "build"], ["bench.probes", "load"]])
def test_every_entry_point_has_help_without_internal_references(args):
    assert entry_points() == ["bench", "bench.probes"]
    out = subprocess.run([sys.executable, "-m", *args, "--help"], capture_output=True, text=True, cwd=REPO,
                         check=True).stdout
    assert "usage:" in out
    assert not re.search(r"\bissue\b|--memory-child|SUPPRESS", out, re.IGNORECASE)
    if args == ["bench"]:
        for suite in SUITES.values():
            assert "".join(suite.about.split()) in "".join(out.split())  # argparse wraps lines at hyphens


def test_reference_blocks_exist_in_the_readme():
    text = reference.README.read_text()
    for suite in reference.REFERENCE_SUITES:
        start, end = reference.markers(suite)
        assert text.count(start) == 1 and text.count(end) == 1, f"README.md lacks the {suite} block"
        assert "python -m bench --reference" in text.split(start)[1].split(end)[0]


def test_replace_block_rewrites_only_its_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- bench:speed -->\nold\n<!-- /bench:speed -->\nrest\n"
                      "<!-- bench:gssf -->\nkeep\n<!-- /bench:gssf -->\n")
    reference.update_readme(readme, "speed", "| new | table |")
    assert readme.read_text() == ("intro\n<!-- bench:speed -->\n| new | table |\n<!-- /bench:speed -->\nrest\n"
                                  "<!-- bench:gssf -->\nkeep\n<!-- /bench:gssf -->\n")
    with pytest.raises(reference.ReadmeBlockError, match="bench:persistence"):
        reference.update_readme(readme, "persistence", "x")
    assert "| new | table |" in readme.read_text()                 # a failed update changes nothing


def test_prepare_sets_aside_only_what_the_harness_wrote(tmp_path):
    folder = tmp_path / "speed"
    folder.mkdir()
    for name in ("report.md", "results.json", "console.txt", "a.png", "NOTES.txt"):
        (folder / name).write_text("x")
    assert reference.prepare("speed", tmp_path) == folder
    assert sorted(p.name for p in folder.iterdir()) == [reference.PREVIOUS, "NOTES.txt"]


def test_reference_run_writes_its_folder_and_readme_block(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- bench:metric-speed -->\n<!-- /bench:metric-speed -->\n")
    monkeypatch.setattr(reference, "README", readme)
    monkeypatch.setattr(reference, "REFERENCE_DIR", tmp_path / "reference")
    monkeypatch.setitem(SUITES, "metric-speed", dataclasses.replace(SUITES["metric-speed"],
                                                                     sizes={"synthetic-clustered": (600, 16, 50)}))
    assert cli.main(["--reference", "--suite", "metric-speed", "--ef", "16", *QUICK]) == 0
    block = readme.read_text().split("<!-- bench:metric-speed -->")[1]
    assert "Produced by `python -m bench --reference --suite metric-speed" in block
    assert "| vsearch | snr |" in block and "QPS under snr" in block
    console = (tmp_path / "reference" / "metric-speed" / "console.txt").read_text()
    assert "suite metric-speed" in console and "## Goals" in console


def _imports(path: Path) -> set[str]:
    """The bench modules a module imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.update([node.module] if node.module else [a.name for a in node.names])
    return {name.split(".")[0] for name in found}


def test_bench_has_no_import_cycle():
    graph = {p.stem: _imports(p) for p in (REPO / "bench").glob("*.py")}

    def visit(module: str, path: tuple[str, ...]) -> None:
        for dep in graph.get(module, ()):
            assert dep not in path, f"import cycle: {' -> '.join(path + (dep,))}"
            visit(dep, path + (dep,))

    for module in graph:
        visit(module, (module,))


def test_every_suite_is_consistent():
    for suite in SUITES.values():
        assert set(suite.goals) <= set(goals.GOALS)
        assert set(suite.engines or ()) <= set(ENGINES)
        for name in suite.datasets + suite.synthetic + suite.fallback:
            kind = name.partition(":")[0]
            assert kind in suite.sizes or datasets.is_shared_name(name) or name == datasets.SKLEARN_DIGITS


def test_a_reference_run_that_stops_early_keeps_the_earlier_reference(tmp_path):
    """prepare() sets the earlier outputs aside; settle() drops them once the run wrote results,
    and puts them back when it did not (no engine available, an error, a killed run)."""
    out = reference.prepare("s", tmp_path)
    for name in ("results.json", "report.md", "plot.png", reference.CONSOLE):
        (out / name).write_text("earlier")
    (out / "notes.txt").write_text("not the harness's")
    reference.settle(out)
    out = reference.prepare("s", tmp_path)        # a run that fails before writing results
    assert not (out / "results.json").exists()
    (out / reference.CONSOLE).write_text("failed run")
    reference.settle(out)
    assert {p.name: p.read_text() for p in out.iterdir()} == {
        "results.json": "earlier", "report.md": "earlier", "plot.png": "earlier", reference.CONSOLE: "earlier",
        "notes.txt": "not the harness's"}
    out = reference.prepare("s", tmp_path)        # killed: never settled
    out = reference.prepare("s", tmp_path)        # the next run still finds the earlier reference aside
    (out / "results.json").write_text("new")
    reference.settle(out)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "results.json"]
    assert (out / "results.json").read_text() == "new"
