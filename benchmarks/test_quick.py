"""The benchmark harness must not rot: run `benchmarks/run.sh --quick` and check that it ran.

    .tools/spark35/bin/python -m pytest benchmarks/test_quick.py

It checks that the run produced its results (JSON, CSV, table, chart) with every configuration
present and every epoch reading the whole dataset, not how fast anything was. Needs what
benchmarks/run.sh needs (it installs the rest itself): scripts/setup.sh's tools and the Shoal jar
(build/libs/shoal-0.1.0.jar, from `gradle --no-daemon jar`).
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CONFIGS = ["s3a", "s3a-prefetch", "alluxio", "shoal", "local"]
TIMEOUT_S = int(os.environ.get("SHOAL_BENCH_QUICK_TIMEOUT", "900"))


@pytest.fixture(scope="module")
def quick_run():
    tmp = Path(tempfile.mkdtemp(prefix="shoal-bench-quick-"))
    out = tmp / "results"
    cmd = [str(HERE / "run.sh"), "--quick", "--work-dir", str(tmp / "work"),
           "--results-dir", str(out), "--results-name", "quick"]
    try:
        p = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
        yield {"rc": p.returncode, "output": p.stdout, "dir": out}
    finally:
        if os.environ.get("SHOAL_BENCH_KEEP"):
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def test_quick_run_succeeds(quick_run):
    assert quick_run["rc"] == 0, quick_run["output"][-6000:]
    assert "| scenario | format | configuration |" in quick_run["output"], "no table printed"


def test_results_have_every_configuration(quick_run):
    path = quick_run["dir"] / "quick.json"
    assert path.exists(), quick_run["output"][-6000:]
    res = json.loads(path.read_text())
    assert not res["failures"], res["failures"]
    assert not res["skipped"], res["skipped"]
    epochs = [r for r in res["records"] if r.get("kind") == "epoch"]
    images = res["dataset"]["images"]
    for c in CONFIGS:
        mine = [r for r in epochs if r["config"] == c]
        want = 2 if c in ("alluxio", "shoal") else 1  # cold + warm where there is a cache
        assert len(mine) >= want, f"{c}: {len(mine)} epochs recorded"
        for r in mine:
            assert r["train_images"] + r["test_images"] == images, r
            assert r["labels"] == res["dataset"]["classes"], r
            assert r["seconds"] > 0, r
    labels = {row["config"] for row in res["table"]}
    for want in ["s3a", "s3a-prefetch", "alluxio cold", "alluxio warm", "shoal cold",
                 "shoal warm", "local"]:
        assert want in labels, f"{want} missing from the table: {sorted(labels)}"
    s3a = [row for row in res["table"] if row["config"] == "s3a"]
    assert s3a and s3a[0]["speedup_vs_s3a"] == pytest.approx(1.0)
    # What crossed the link is reported for every configuration: direct S3A moves at least
    # the JPEGs each epoch. (Quick mode runs two applications at once, so an epoch's count
    # may hold the other's traffic too: no upper bound is checked.)
    for row in res["table"]:
        assert row["link_mb"] is not None and row["link_util"] is not None, row
    assert s3a[0]["link_mb"] * 1e6 >= res["dataset"]["jpeg_bytes"], s3a[0]
    assert s3a[0]["link_util"] > 0, s3a[0]
    # Each epoch's CPU time is recorded, the emulated link's apart (quick mode runs two
    # applications at once, so only presence and signs are checked), and a cache's cold epoch
    # is its application's first.
    for r in epochs:
        assert r["cpu_machine"] > 0 and r["cpu_link"] is not None and r["cpu_link"] >= 0, r
        assert r["began"] > 0, r
    cold = [row for row in res["table"] if row["config"] == "shoal cold"][0]
    assert cold["first_mean"] == pytest.approx(cold["mean"]), cold
    assert res["link"]["mode"] in ("netns+tc-tbf+proxy", "proxy-only")
    assert res["machine"]["cores"] and res["settings"]["preset"] == "same-region"
    assert [c for c in res["copy"] if c.get("files")], "the local copy was not timed"


def test_csv_and_chart_written(quick_run):
    d = quick_run["dir"]
    with open(d / "quick.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["config"] for r in rows} >= {"s3a", "shoal warm", "local"}
    png = d / "quick.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (d / "quick.md").read_text().count("|") > 20
