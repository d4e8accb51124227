"""Shoal's Spark plugin and cluster-wide cache jobs, end to end, on Spark 3.5 and 4.x.

    .tools/spark35/bin/python -m pytest tests/cluster                  # both Spark versions
    .tools/spark35/bin/python -m pytest tests/cluster --spark spark4   # one of them

test_spark_plugin.py runs in `local-cluster[2,1,1024]` (two executor JVMs on 127.0.0.1);
test_multihost.py (root only) runs a standalone cluster whose workers sit in network namespaces of
their own. Both need build/libs/shoal-0.1.0.jar (`gradle --no-daemon jar`) and
.tools/s3s/bin/s3s-fs. SHOAL_CLUSTER_KEEP=1 keeps the temp dirs (logs, metrics) for a look.
"""
from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "tests"))

from sparktest import (SPARKS, add_spark_option, jar, parametrize_spark,  # noqa: E402,F401
                       s3, spark_env, submit, tail, temp_workdir)

JOB_TIMEOUT_S = int(os.environ.get("SHOAL_CLUSTER_JOB_TIMEOUT", "420"))
BUCKET = "shoal-cluster"
PREFIX = "ds"


def pytest_addoption(parser):
    add_spark_option(parser)


def pytest_generate_tests(metafunc):
    # The plugin's suites run on the Sparks of today's clusters; the e2e suite covers 3.1 and 3.3.
    parametrize_spark(metafunc, default=("spark35", "spark4"))


@pytest.fixture(scope="session")
def workdir():
    yield from temp_workdir("shoal-cluster-", "SHOAL_CLUSTER_KEEP")


def make_dataset(root: Path, files: int = 40, seed: int = 5) -> dict:
    """Random files of 1 KiB .. 600 KiB in a few directories, one of 3 MiB, one empty, one hidden;
    returns {relative path: size}."""
    rnd = random.Random(seed)
    sizes = {}
    for i in range(files):
        rel = f"part{i % 4}/f{i:03d}.bin"
        sizes[rel] = rnd.randint(1024, 600 * 1024)
    sizes["large.bin"] = 3 * 1024 * 1024 + 17
    sizes["empty.bin"] = 0
    sizes["_SUCCESS"] = 0
    sizes[".hidden"] = 100
    for rel, n in sizes.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rnd.randbytes(n))
    return sizes


@pytest.fixture(scope="session")
def dataset(workdir):
    store = workdir / "store"
    sizes = make_dataset(store / BUCKET / PREFIX)
    return {"store": store, "sizes": sizes, "bytes": sum(sizes.values())}


def spark_submit(venv: Path, jar: Path, app: list, conf: dict, workdir: Path, name: str,
                 master: str = "local[2]", timeout: int = JOB_TIMEOUT_S,
                 extra: list | None = None):
    """Runs one spark-submit (app: [script, args...] or ["--class", C, jar, args...]); see
    sparktest.submit."""
    return submit(venv, jar, app, conf, workdir, name, timeout=timeout, master=master,
                  extra=extra)
