#!/usr/bin/env python3
"""DLIO (MLPerf Storage's engine) over `shoal mount`, cold and warm, against a local directory.

A scaled-down ResNet-50-style workload: DLIO's resnet50 workload with PyTorch's data loader,
one ~150 KB sample per file, a few emulated accelerators (MPI ranks), and a compute time per
batch. DLIO reports accelerator utilisation (AU: the share of time the emulated accelerators
compute rather than wait for data; MLPerf Storage counts a ResNet-50 run at AU >= 90%) and
samples/s, per epoch. Three runs over the same bytes:

* local: the samples in a local directory (the S3 server's own files, in the page cache);
* Shoal: a fresh mount with the node cache freed, the store behind a link emulator adding
  --rtt-ms per request: epoch 1 is cold, the later epochs warm.

    benchmarks/fuse/setup_dlio.sh                 # once (needs SHOAL_SETUP_TORCH=1 scripts/setup.sh)
    .tools/front/bin/python benchmarks/fuse/dlio.py [--samples 2048] [--accelerators 2]

Writes benchmarks/results/dlio-<time>.json and .md.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import REPO, Mount, S3Server, is_mounted, mount_conf  # noqa: E402

BIN = Path(sys.executable).parent


def dlio(args, data_folder: Path, out: Path, generate: bool) -> dict:
    """One DLIO run; returns its summary.json."""
    cmd = [str(BIN / "mpiexec"), "-n", str(1 if generate else args.accelerators), str(BIN / "dlio_benchmark"),
           "workload=resnet50_h100",
           "++workload.framework=pytorch", "++workload.reader.data_loader=pytorch",
           f"++workload.dataset.format={args.format}",
           f"++workload.dataset.num_files_train={args.samples}", "++workload.dataset.num_samples_per_file=1",
           f"++workload.dataset.record_length={args.sample_kb * 1024}",
           "++workload.dataset.record_length_stdev=0", "++workload.dataset.record_length_resize=0",
           f"++workload.dataset.data_folder={data_folder}",
           f"++workload.workflow.generate_data={generate}", f"++workload.workflow.train={not generate}",
           f"++workload.train.epochs={args.epochs}", f"++workload.reader.batch_size={args.batch_size}",
           f"++workload.reader.read_threads={args.read_threads}",
           f"++workload.train.computation_time={args.compute_s}",
           f"++workload.output.folder={out}", f"hydra.run.dir={out / 'hydra'}"]
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "run.log", "wb") as log:
        done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=out,
                              env=dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}"))
    if done.returncode != 0:
        lines = (out / "run.log").read_text(errors="replace").splitlines()
        errors = [line for line in lines if "Error" in line or "error" in line][-15:]
        raise RuntimeError(f"DLIO failed ({done.returncode}) on {data_folder}:\n" + "\n".join(errors or lines[-30:]))
    if generate:
        return {}
    return json.loads((out / "summary.json").read_text())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=2048, help="files, one sample each")
    ap.add_argument("--sample-kb", type=int, default=150)
    ap.add_argument("--format", default="npz", help="DLIO's sample format (npz, jpeg)")
    ap.add_argument("--accelerators", type=int, default=2, help="MPI ranks")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--read-threads", type=int, default=2, help="DataLoader workers per rank")
    ap.add_argument("--compute-s", type=float, default=0.05, help="emulated compute per batch")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rtt-ms", type=float, default=5.0)
    ap.add_argument("--shoal", type=Path, default=REPO / "target" / "release" / "shoal")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="shoal-dlio-"))
    proxy = server = None
    results = {"when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
               "machine": {"cpus": os.cpu_count(), "load_before": os.getloadavg()}}
    try:
        root = work / "s3root"
        data = root / "dlio" / "resnet50"
        dlio(args, data, work / "gen", generate=True)
        # DLIO lists data_folder/valid even without evaluation; an object store has no empty
        # directories, so the directory gets a file DLIO ignores (not of its format).
        (data / "valid").mkdir(exist_ok=True)
        (data / "valid" / ".keep").write_bytes(b"")
        sizes = [p.stat().st_size for p in data.rglob(f"*.{args.format}")]
        results["dataset"] = {"files": len(sizes), "bytes": sum(sizes)}
        server = S3Server(root, log_path=work / "s3s.log").start()
        info = work / "proxy.json"
        proxy = subprocess.Popen([sys.executable, str(REPO / "benchmarks" / "delayproxy.py"), "--upstream",
                                  f"127.0.0.1:{server.port}", "--rtt-ms", str(args.rtt_ms), "--info-file",
                                  str(info)], stdout=subprocess.DEVNULL)
        while not info.exists():
            time.sleep(0.05)
        endpoint = f"http://127.0.0.1:{json.loads(info.read_text())['port']}"
        keys = mount_conf("dlio", "/dlio", "s3://dlio", endpoint=endpoint, access_key=server.access_key,
                          secret_key=server.secret_key, readonly=True, prefix="")
        keys["shoal.cache.dirs"] = f"{work / 'cache'}:8g"
        conf = work / "shoal.properties"
        conf.write_text("".join(f"{k}={v}\n" for k, v in keys.items()))
        subprocess.run([str(args.shoal), "--conf", str(conf), "free", "/dlio"], check=True, capture_output=True)

        for p in data.rglob("*"):  # the local copy in the page cache, as a warm local disk
            if p.is_file():
                p.read_bytes()
        results["local"] = dlio(args, data, work / "local", generate=False)["metric"]
        mnt = work / "mnt"
        with Mount(args.shoal, conf, mnt, work / "mount.log") as m:
            results["shoal"] = dlio(args, mnt / "dlio" / "resnet50", work / "shoal", generate=False)["metric"]
            results["shoal_counters"] = m.stats()
    finally:
        if proxy is not None:
            proxy.terminate()
        if server is not None:
            server.stop()
        if is_mounted(work / "mnt"):
            subprocess.run(["umount", "-l", str(work / "mnt")], check=False)
        shutil.rmtree(work, ignore_errors=True)
    results["machine"]["load_after"] = os.getloadavg()

    def row(name, metric, epochs):
        au = [metric["train_au_percentage"][e] for e in epochs]
        tput = [metric["train_throughput_samples_per_second"][e] for e in epochs]
        return f"| {name} | {sum(au) / len(au):.1f}% | {sum(tput) / len(tput):.0f} |"

    later = range(1, args.epochs)
    md = [f"# DLIO resnet50 workload over `shoal mount` {results['when']}", "",
          f"DLIO 2.0.0, PyTorch reader, {results['dataset']['files']} {args.format} samples "
          f"({results['dataset']['bytes'] / results['dataset']['files'] / 1000:.0f} KB each), "
          f"{args.accelerators} emulated accelerators, batch {args.batch_size}, {args.read_threads} "
          f"read threads each, {args.compute_s * 1000:.0f} ms compute per batch, {args.epochs} epochs, "
          f"{args.rtt_ms} ms per store request; {os.cpu_count()} CPUs, load "
          f"{results['machine']['load_before'][0]:.1f} before, {results['machine']['load_after'][0]:.1f} after.",
          "", "| configuration | AU (MLPerf: >= 90%) | samples/s |", "|---|---:|---:|",
          row("local directory, epochs 2+", results["local"], later),
          row("Shoal cold (epoch 1)", results["shoal"], [0]),
          row("Shoal warm (epochs 2+)", results["shoal"], later)]
    stamp = datetime.datetime.now().strftime("%Y-%m-%dT%H%M%S")
    out = args.out / f"dlio-{stamp}"
    args.out.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2))
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    print(f"wrote {out}.json and .md")


if __name__ == "__main__":
    main()
