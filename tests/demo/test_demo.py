"""The demo as a newcomer runs it (`scripts/demo.sh`), in its quick mode: a small dataset, the delay
proxy alone, two trials (direct S3A in the first).

    .tools/spark35/bin/python -m pytest tests/demo -v

Checks that it ends with the table and the chart (a real PNG), that every trial after the first
read everything from Shoal's cache with no object GET reaching the store (counted at the link, and
by Shoal itself), and that nothing it started is left: no process, no listening port, no network
namespace, nothing in its temporary directory; also when it is stopped by SIGTERM or SIGINT in the
middle of a trial. It does not check speed.

Needs what the demo needs: scripts/setup.sh's tools and the jar (`gradle --no-daemon jar`; the
demo runs with --no-build). The demo installs the S3A jars itself (benchmarks/setup.sh).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "scripts" / "demo.sh"
PYTHON = REPO / ".tools" / "spark35" / "bin" / "python"
TIMEOUT_S = int(os.environ.get("SHOAL_DEMO_TEST_TIMEOUT", "600"))
TOKEN_VAR = "SHOAL_DEMO_TEST_TOKEN"


class DemoRun:
    """One scripts/demo.sh run in its own session, with a private TMPDIR and a token in its
    environment that every process it starts inherits (to find leftovers by)."""

    def __init__(self, *args, script=True):
        self.base = Path(tempfile.mkdtemp(prefix="shoal-demo-test-"))
        self.tmpdir = self.base / "tmp"
        self.tmpdir.mkdir()
        self.out = self.base / "results"
        self.token = uuid.uuid4().hex
        env = dict(os.environ, TMPDIR=str(self.tmpdir), **{TOKEN_VAR: self.token})
        # script=False runs what demo.sh ends with (it execs scripts/demo.py once setup and the
        # build are done), without the setup checks
        cmd = [str(DEMO), "--no-build"] if script else [str(PYTHON), str(REPO / "scripts" / "demo.py")]
        self.proc = subprocess.Popen(
            cmd + ["--quick", "--out", str(self.out), *args], cwd=REPO,
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            stdin=subprocess.DEVNULL, start_new_session=True)
        self.lines = []

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def read_until(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        for line in self.proc.stdout:
            self.lines.append(line)
            m = rx.search(line)
            if m:
                return m
            if time.monotonic() > deadline:
                break
        raise AssertionError(f"no line matching {pattern!r}:\n{self.output[-6000:]}")

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        for line in self.proc.stdout:  # ends when the demo and everything it started closed it
            self.lines.append(line)
            if time.monotonic() > deadline:
                break
        return self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))

    def leftovers(self) -> list:
        """Processes that carry this run's token (they descend from the demo)."""
        found = []
        me = os.getpid()
        needle = f"{TOKEN_VAR}={self.token}".encode()
        for d in Path("/proc").iterdir():
            if not d.name.isdigit() or int(d.name) == me:
                continue
            try:
                if needle in (d / "environ").read_bytes().split(b"\0"):
                    found.append((int(d.name), (d / "cmdline").read_bytes().replace(b"\0", b" ")
                                  .decode(errors="replace")[:200]))
            except OSError:
                pass
        return found

    def close(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        for pid, _ in self.leftovers():  # started by this test's demo run, stopped by their id
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if os.environ.get("SHOAL_DEMO_KEEP"):
            print(f"kept {self.base}")
        else:
            shutil.rmtree(self.base, ignore_errors=True)


def listening_ports() -> set:
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] == "0A":  # LISTEN
                ports.add(int(f[1].rsplit(":", 1)[1], 16))
    return ports


def namespaces() -> str:
    if not shutil.which("ip"):
        return ""
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def netns_possible() -> bool:
    return os.geteuid() == 0 and bool(shutil.which("ip")) and bool(shutil.which("tc"))


def assert_nothing_left(run: DemoRun):
    out = run.output
    left = []
    for _ in range(50):  # processes may take a moment to be reaped by init
        left = run.leftovers()
        if not left:
            break
        time.sleep(0.2)
    assert not left, f"processes left running: {left}"
    m = re.search(r"store at http://127\.0\.0\.1:(\d+) \(through the link; the server listens on "
                  r"([\d.]+):(\d+)\)", out)
    assert m, f"the demo did not say where its store was:\n{out[-4000:]}"
    listening = listening_ports()
    assert int(m.group(1)) not in listening, f"the link's port {m.group(1)} still listens"
    if m.group(2) == "127.0.0.1":
        assert int(m.group(3)) not in listening, f"the store's port {m.group(3)} still listens"
    ns = f"shoalbench-{run.proc.pid}"
    assert not re.search(rf"^{ns}\b", namespaces(), re.M), f"network namespace {ns} left"
    assert list(run.tmpdir.iterdir()) == [], \
        f"left in the temporary directory: {list(run.tmpdir.iterdir())}"
    w = re.search(r"temporary directory (\S+) \(removed at the end\)", out)
    assert w and not Path(w.group(1)).exists(), "the demo's temporary directory is still there"


@pytest.fixture(scope="module")
def quick_run():
    run = DemoRun()
    try:
        rc = run.wait(TIMEOUT_S)
        yield run, rc
    finally:
        run.close()


def test_ends_with_the_table_and_the_chart(quick_run):
    run, rc = quick_run
    out = run.output
    assert rc == 0, out[-8000:]
    tail = out[out.rindex("== "):]
    header = re.search(r"^\s+trial\s+reader\s+load s\s+vs S3A\s+hit ratio\s+over the link\s+"
                       r"object GETs$", tail, re.M)
    assert header, f"no table at the end:\n{tail}"
    rows = re.findall(r"^\s+(\d+)\s+(direct S3A|Shoal \((?:cold|warm)\))\s+([\d.]+)\s+(\S+)\s+"
                      r"(\S+)\s+([\d.]+ [KMG]?B)\s+(\d+)$", tail, re.M)
    assert [(r[0], r[1]) for r in rows] == [("1", "direct S3A"), ("1", "Shoal (cold)"),
                                            ("2", "Shoal (warm)")], tail
    last = [line for line in out.splitlines() if line.strip()][-1]
    m = re.fullmatch(r"chart: (\S+\.png)", last.strip())
    assert m, f"the output does not end with the chart's path: {last!r}"
    png = Path(m.group(1))
    png = png if png.is_absolute() else REPO / png
    assert png.parent == run.out, png
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG file"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 600 and height >= 300 and len(data) > 10_000, (width, height, len(data))
    assert (run.out / "demo-same-region-quick.md").read_text().count("|") > 20


def test_trials_after_the_first_read_only_from_the_cache(quick_run):
    run, rc = quick_run
    assert rc == 0, run.output[-8000:]
    res = json.loads((run.out / "demo-same-region-quick.json").read_text())
    assert res["link"]["mode"] == "proxy-only", res["link"]
    assert "proxy alone" in run.output
    trials = {(r["trial"], r["reader"]): r for r in res["trials"]}
    images, nbytes = res["dataset"]["images"], res["dataset"]["jpeg_bytes"]
    s3a, cold = trials[(1, "s3a")], trials[(1, "shoal")]
    warm_trials = [r for (t, reader), r in sorted(trials.items()) if reader == "shoal" and t > 1]
    assert [r["trial"] for r in warm_trials] == list(range(2, res["settings"]["trials"] + 1))
    for r in [s3a, cold] + warm_trials:
        assert r["images"] == images and r["load_seconds"] > 0, r
    # the store really is behind the link, and the counts can tell a GET when there is one
    assert s3a["link"]["object_gets"] >= images, s3a["link"]
    assert s3a["link"]["bytes"] >= nbytes, s3a["link"]
    assert cold["link"]["object_gets"] > 0, cold["link"]
    assert cold["shoal"]["bytes_from_store"] > 0 and cold["shoal"]["hit_ratio"] < 1, cold["shoal"]
    # every trial after the first: a new Spark application, everything from the node cache
    for warm in warm_trials:
        assert warm["shoal"]["hit_ratio"] == 1.0, warm["shoal"]
        assert warm["shoal"]["bytes_from_store"] == 0 and warm["shoal"]["store_requests"] == 0, \
            warm["shoal"]
        assert warm["shoal"]["bytes_from_cache"] >= nbytes, warm["shoal"]
        assert warm["link"]["object_gets"] == 0, warm["link"]
        assert not any(k.startswith("GET object") for k in warm["link"]["requests_by_kind"]), \
            warm["link"]
        assert re.search(rf"^\s+{warm['trial']}\s+Shoal \(warm\)\s+[\d.]+\s+[\d.]+x\*?\s+"
                         r"100\.0%\s+.*\s0$", run.output, re.M), run.output[-3000:]


def test_nothing_left_after_the_run(quick_run):
    run, rc = quick_run
    assert rc == 0, run.output[-8000:]
    assert_nothing_left(run)


CONTROL_FILES = {"usage", "fetch.lock", "janitor.lock", "control", "removals"}


def cache_pages(cache: Path) -> list:
    """Page files in Shoal's cache directory (not its control files, not files being written)."""
    if not cache.is_dir():
        return []
    return [f for f in cache.rglob("*") if f.is_file() and f.name not in CONTROL_FILES
            and not f.name.startswith(".tmp-")]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_nothing_left_when_interrupted(sig):
    """SIGTERM (kill) while the first Spark application starts; SIGINT (Ctrl-C: the terminal
    sends it to demo.sh, which became demo.py) in Shoal's cold trial, while it fills its cache.
    Both with a network namespace where one can be made, so that its removal is checked too."""
    netns = netns_possible()
    run = DemoRun(*(["--netns"] if netns else []), script=False)
    try:
        work = Path(run.read_until(r"temporary directory (\S+) \(removed at the end\)",
                                   TIMEOUT_S).group(1))
        if sig == signal.SIGTERM:
            run.read_until(r"trial 1/2, direct S3A: starting", TIMEOUT_S)
            deadline = time.monotonic() + 60
            while not any("spark" in cmd.lower() for _, cmd in run.leftovers()):
                assert time.monotonic() < deadline, "no Spark application started"
                time.sleep(0.2)
            time.sleep(2)  # the JVM and its Python driver are up
        else:
            run.read_until(r"trial 1/2, Shoal \(cold: empty cache\): starting", TIMEOUT_S)
            deadline = time.monotonic() + 180
            while not cache_pages(work / "cache"):
                assert time.monotonic() < deadline, "Shoal's cold trial wrote no cache page"
                assert run.proc.poll() is None, run.output[-4000:]
                time.sleep(0.05)
        if netns:
            assert re.search(rf"^shoalbench-{run.proc.pid}\b", namespaces(), re.M), \
                "the demo made no network namespace"
        os.kill(run.proc.pid, sig)
        rc = run.wait(120)
        assert rc == 128 + sig, run.output[-4000:]
        assert f"stopped by {signal.Signals(sig).name}" in run.output, run.output[-4000:]
        if sig == signal.SIGINT:
            assert "trial 1/2, Shoal: loaded" not in run.output, \
                "the cold trial ended before the interrupt"
        assert_nothing_left(run)
        assert not work.exists(), f"{work} (with Shoal's cache) is still there"
    finally:
        run.close()
