#!/usr/bin/env python3
"""The Shoal demo, after setup and the build (scripts/demo.sh runs those, then this):

  training trials over an ImageNet-shaped dataset in a remote S3 store, each trial a new Spark
  application; direct S3A (Spark's own s3a://) against Shoal (shoal:// over an s3:// mount), both
  through the same emulated link; a table and a chart of what each trial cost.

It is the benchmark harness's trials scenario in small, built from the harness's own pieces
(benchmarks/): the dataset (gen_imagenet.py), the store behind its link (bench.RemoteStore: s3s-fs
in a network namespace shaped with tc tbf plus the delay proxy, or the proxy alone where no
namespace can be made; the presets are the harness's), the S3A jars (setup.sh) and the Spark
application (workload.py: list, read and decode every image of the train and test splits). Every
byte a reader moves to or from the store crosses the proxy, which counts requests and bytes; the
demo reads those counters before and after each trial, and the workload reads Shoal's own.

Shoal's cache directory starts empty: its first trial is cold and fills it, the later ones (new
JVMs, new Spark applications) read from it. Everything the demo starts (the server, the proxy, the
namespace, Spark applications) and its temporary directory are gone when it ends, also on SIGINT,
SIGTERM or SIGHUP. The results (JSON, Markdown table, PNG chart) go to --out.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(HERE))

import bench  # noqa: E402  (the benchmark harness: its store, link presets, processes, S3A jars)

TOOLS = REPO / ".tools"
VENVS = {"3.5": "spark35", "4": "spark4"}
BUCKET = "demo"
LINKS = ("loopback", "same-region", "wan")
PROGRESS_EVERY_S = 10.0
# the delay proxy's request kinds (path-style requests), as the summary names them
KINDS = {"GET bucket": "listings", "HEAD object": "status requests (HEAD)",
         "GET object": "object GETs"}


def log(msg: str):
    print(f"[demo {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def human_bytes(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def traffic_delta(before: dict, after: dict) -> dict:
    """What crossed the link between two proxy snapshots."""
    kinds = set(before.get("requests_by_kind", {})) | set(after.get("requests_by_kind", {}))
    by_kind = {k: after.get("requests_by_kind", {}).get(k, 0) -
               before.get("requests_by_kind", {}).get(k, 0) for k in sorted(kinds)}
    d = {k: after[k] - before[k] for k in ("connections", "requests", "bytes_down", "bytes_up")}
    d["bytes"] = d["bytes_down"] + d["bytes_up"]
    d["requests_by_kind"] = {k: v for k, v in by_kind.items() if v}
    d["object_gets"] = by_kind.get("GET object", 0)
    return d


class Demo:
    def __init__(self, args):
        self.args = args
        self.venv = TOOLS / VENVS[args.spark]
        self.work = Path(tempfile.mkdtemp(prefix="shoal-demo."))
        self.store = None
        self.trials = []  # one record per (trial, reader)
        self.t_start = time.monotonic()

    # -- the dataset and the store ---------------------------------------------------------------
    def make_dataset(self):
        a = self.args
        root = self.work / "store"
        log(f"generating the dataset into bucket '{BUCKET}': {a.images} ImageNet-shaped JPEGs "
            f"in {a.classes} classes (benchmarks/gen_imagenet.py)")
        self.dataset = bench.generate(root / BUCKET, images=a.images, classes=a.classes, quiet=True)
        bench.s3store.seed_etags(root, BUCKET)  # ETags stored as an upload leaves them
        d = self.dataset
        log(f"dataset: {d['images']} JPEGs ({d['train']} train, {d['test']} test), "
            f"{human_bytes(d['jpeg_bytes'])}, mean {d['jpeg_size_kb']['mean']} KB; every trial "
            "lists, reads and decodes them all")
        return root

    def start_store(self, root: Path):
        a = self.args
        preset = bench.PRESETS[a.link]
        log(f"starting the S3 store (s3s-fs) behind an emulated link, preset '{a.link}': "
            f"{preset['about']}")
        self.store = bench.RemoteStore(root, preset, self.work, use_netns=a.netns, bucket=BUCKET,
                                       log=lambda m: None)
        self.store.start()
        mode = {"netns+tc-tbf+proxy": "a network namespace + tc tbf + the delay proxy",
                "proxy-only": "the delay proxy alone"}[self.store.mode]
        log(f"link: {mode} ({self.store.note})")
        m = self.store.measured
        log(f"store at {self.store.endpoint} (through the link; the server listens on "
            f"{self.store.upstream}); measured: {m.get('request_ms_median')} ms per request on a "
            f"new connection" + (f", {m['get_mb_per_s']} MB/s for one GET of "
                                 f"{human_bytes(m['get_object_bytes'])}" if "get_mb_per_s" in m
                                 else ""))

    # -- one Spark application -------------------------------------------------------------------
    def spark_cmd(self, trial: int, reader: str, out: Path) -> list:
        a, store = self.args, self.store
        if reader == "s3a":
            jars = bench.jars_for(VENVS[a.spark])[1]
            conf = bench.s3a_conf(store.endpoint)
            uri = f"s3a://{BUCKET}/imagenet"
        else:
            from s3server import mount_conf

            jars = [str(self.jar)]
            conf = mount_conf("data", "/data", f"s3://{BUCKET}", endpoint=store.endpoint,
                              access_key=bench.ACCESS_KEY, secret_key=bench.SECRET_KEY,
                              region=bench.REGION)
            # a training set does not change: its listings and statuses need no revalidation
            conf["spark.hadoop.shoal.mount.data.immutable"] = "true"
            conf["spark.hadoop.shoal.cache.dirs"] = f"{self.work / 'cache'}:4g"
            uri = "shoal:///data/imagenet"
        # everything a trial writes stays in the demo's temporary directory
        conf.update({"spark.driver.host": "127.0.0.1",
                     "spark.local.dir": str(self.work / "spark-local")})
        # JVMs stop at the C1 compiler, for both readers: applications of a minute spend about
        # half their CPU in C2 (a trial over the local files: 44 s of CPU with C2, 25 s without)
        return bench.workload_command(
            self.venv, a.master, jars, conf,
            ["--config", reader, "--scenario", "trials", "--out", str(out), "--formats", "jpeg",
             "--epochs", "1", "--first-epoch", str(trial - 1),
             "--expect-images", str(self.dataset["images"]), "--jpeg", uri]
            + (["--no-warm-up"] if a.quick else []),
            driver_memory="2g",
            java_opts=bench.QUICK_JAVA_OPTS + [f"-Djava.io.tmpdir={self.work / 'tmp'}"])

    def show_command(self, cmd: list):
        secret = bench.SECRET_KEY
        lines, line = [], ""
        for c in cmd:
            c = c.replace(secret, "****").replace(str(REPO) + "/", "")
            if c.startswith("--") and line:
                lines.append(line)
                line = "    "
            line += (f"'{c}'" if " " in c else c) + " "
        lines.append(line)
        log("each Shoal trial runs:\n  " + " \\\n  ".join(lines))

    def run_trial(self, trial: int, reader: str):
        a = self.args
        name = {"s3a": "direct S3A", "shoal": "Shoal"}[reader]
        state = "" if reader == "s3a" else (" (cold: empty cache)" if trial == 1
                                           else " (warm: the cache the earlier trials left)")
        log(f"trial {trial}/{a.trials}, {name}{state}: starting a new Spark application")
        out = self.work / f"trial-{trial}-{reader}.jsonl"
        logf = self.work / f"trial-{trial}-{reader}.log"
        cmd = self.spark_cmd(trial, reader, out)
        if reader == "shoal" and trial == 1:
            self.show_command(cmd)
        (self.work / "tmp").mkdir(exist_ok=True)
        env = bench.spark_env(self.venv)
        env.update({"SPARK_LOCAL_IP": "127.0.0.1", "TMPDIR": str(self.work / "tmp")})
        before = self.store.traffic()
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        with open(logf, "w") as f:
            p = bench.PROCS.start(cmd, stdout=f, stderr=subprocess.STDOUT, env=env,
                                  stdin=subprocess.DEVNULL, cwd=str(self.work))
            next_note = t0 + PROGRESS_EVERY_S
            while p.poll() is None:
                now = time.monotonic()
                if now - t0 > a.app_timeout:
                    bench.PROCS.stop(p)
                    raise RuntimeError(f"trial {trial} ({name}) ran past {a.app_timeout} s; "
                                       f"log:\n{logf.read_text(errors='replace')[-3000:]}")
                if now >= next_note:
                    so_far = traffic_delta(before, self.store.traffic())
                    log(f"  ... {now - t0:.0f} s: " + (
                        f"{human_bytes(so_far['bytes'])} and {so_far['requests']} requests over "
                        "the link so far" if so_far["requests"] else
                        "Spark is starting" + ("" if a.quick else
                                               " (then a warm-up on local files)")))
                    next_note += PROGRESS_EVERY_S
                time.sleep(0.2)
            bench.PROCS.stop(p)
        wall = time.monotonic() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        link = traffic_delta(before, self.store.traffic())
        if p.returncode != 0 or not out.exists():  # the workload checks every image was read
            raise RuntimeError(f"trial {trial} ({name}) failed (exit {p.returncode}); log "
                               f"{logf}:\n{logf.read_text(errors='replace')[-4000:]}")
        recs = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
        app = next(r for r in recs if r["kind"] == "app")
        epoch = next(r for r in recs if r["kind"] == "epoch")
        rec = {"trial": trial, "reader": reader, "load_seconds": epoch["seconds"],
               "app_seconds": round(wall, 2), "spark_start_seconds": app["spark_start_seconds"],
               # the application's processes, as far as they were waited for
               "app_cpu_seconds": round(cpu1.ru_utime + cpu1.ru_stime -
                                        cpu0.ru_utime - cpu0.ru_stime, 1),
               "warm_up_seconds": app["warm_up_seconds"],
               "images": epoch["train_images"] + epoch["test_images"], "bytes": epoch["bytes"],
               "shoal": epoch.get("shoal"), "link": link}
        self.trials.append(rec)
        hits = ""
        if rec["shoal"] and rec["shoal"]["hit_ratio"] is not None:
            hits = f", {rec['shoal']['hit_ratio']:.1%} of bytes from Shoal's cache"
        log(f"trial {trial}/{a.trials}, {name}: loaded in {rec['load_seconds']:.2f} s{hits}; "
            f"{human_bytes(link['bytes'])} over the link, {link['object_gets']} object GETs "
            f"(application {wall:.0f} s)")

    # -- the whole run ---------------------------------------------------------------------------
    def run(self):
        a = self.args
        log(f"temporary directory {self.work} (removed at the end)")
        # spark-submit reads classes from the jar lazily: run a copy, so that a rebuild cannot
        # touch it while a trial runs
        self.jar = self.work / "shoal.jar"
        shutil.copyfile(a.jar, self.jar)
        root = self.make_dataset()
        self.start_store(root)
        log(f"{a.trials} trials, each a new Spark application ({VENVS[a.spark]}: Spark "
            f"{bench.spark_version(self.venv)}, {a.master}); direct S3A in "
            f"{'every trial' if a.s3a_trials >= a.trials else f'the first {a.s3a_trials}'}, "
            f"Shoal in every trial, from one cache directory that starts empty")
        for t in range(1, a.trials + 1):
            if t <= a.s3a_trials:
                self.run_trial(t, "s3a")
            self.run_trial(t, "shoal")
        self.link = self.store.describe()

    def stop(self):
        if self.store is not None:
            self.store.stop()
        bench.PROCS.stop_all()
        if self.args.keep:
            log(f"kept {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    # -- results ---------------------------------------------------------------------------------
    def summarize(self) -> dict:
        a, d = self.args, self.dataset
        s3a = [r for r in self.trials if r["reader"] == "s3a"]
        s3a_by_trial = {r["trial"]: r["load_seconds"] for r in s3a}
        s3a_mean = statistics.fmean(r["load_seconds"] for r in s3a)
        for r in self.trials:
            base = s3a_by_trial.get(r["trial"])
            r["s3a_same_trial"] = base is not None
            r["speedup_vs_s3a"] = round((base if base is not None else s3a_mean) /
                                        r["load_seconds"], 3)
        warm = [r for r in self.trials if r["reader"] == "shoal" and r["trial"] > 1]
        warm_mean = statistics.fmean(r["load_seconds"] for r in warm)
        kinds = sorted({k for r in warm for k in r["link"]["requests_by_kind"]})
        return {
            "title": "Shoal demo: training trials over a remote S3 dataset, direct S3A vs Shoal",
            "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": " ".join(["scripts/demo.sh"] + a.argv),
            "machine": {"cores": os.cpu_count(), "load_avg_at_end": os.getloadavg()},
            "settings": {"link": a.link, "preset": bench.PRESETS[a.link], "quick": a.quick,
                         "trials": a.trials, "s3a_trials": a.s3a_trials, "master": a.master,
                         "spark": VENVS[a.spark], "shoal_commit": bench.git_rev()},
            "link": self.link,
            "dataset": {k: d[k] for k in ("images", "train", "test", "classes", "jpeg_bytes",
                                          "jpeg_size_kb")},
            "trials": self.trials,
            "s3a_mean_seconds": round(s3a_mean, 3),
            "warm": {"mean_seconds": round(warm_mean, 3),
                     "speedup_vs_s3a_mean": round(s3a_mean / warm_mean, 3),
                     "object_gets": sum(r["link"]["object_gets"] for r in warm),
                     "requests_by_kind": {k: sum(r["link"]["requests_by_kind"].get(k, 0)
                                                 for r in warm) for k in kinds},
                     "link_bytes": sum(r["link"]["bytes"] for r in warm)},
            "total_seconds": round(time.monotonic() - self.t_start, 1),
        }

    @staticmethod
    def table(res: dict, markdown: bool = False) -> str:
        head = ["trial", "reader", "load s", "vs S3A", "hit ratio", "over the link", "object GETs"]
        rows = []
        for r in res["trials"]:
            name = "direct S3A" if r["reader"] == "s3a" else \
                f"Shoal ({'cold' if r['trial'] == 1 else 'warm'})"
            hit = r["shoal"]["hit_ratio"] if r["shoal"] else None
            vs = "baseline" if r["reader"] == "s3a" else \
                f"{r['speedup_vs_s3a']:.2f}x" + ("" if r["s3a_same_trial"] else "*")
            rows.append([str(r["trial"]), name, f"{r['load_seconds']:.2f}", vs,
                         "-" if hit is None else f"{hit:.1%}", human_bytes(r["link"]["bytes"]),
                         str(r["link"]["object_gets"])])
        if markdown:
            out = ["| " + " | ".join(head) + " |",
                   "|" + "|".join(["---:", "---"] + ["---:"] * 5) + "|"]
            return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rows])
        widths = [max(len(x) for x in col) for col in zip(head, *rows)]

        def line(cells):
            return "  " + "  ".join(c.ljust(w) if i == 1 else c.rjust(w)
                                    for i, (c, w) in enumerate(zip(cells, widths)))
        return "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in rows])

    @staticmethod
    def notes(res: dict) -> list:
        s, w, out = res["settings"], res["warm"], []
        if any(not r["s3a_same_trial"] for r in res["trials"]):
            out.append(f"* against direct S3A's mean ({res['s3a_mean_seconds']:.2f} s): it ran "
                       f"{s['s3a_trials']} of the {s['trials']} trials")
        kinds = ", ".join(f"{n} {KINDS.get(k, k)}" for k, n in w["requests_by_kind"].items())
        out.append(f"Shoal from its node cache: {w['mean_seconds']:.2f} s per trial, "
                   f"{w['speedup_vs_s3a_mean']:.2f}x direct S3A's {res['s3a_mean_seconds']:.2f} s; "
                   f"{w['object_gets']} object GETs in all its warm trials, "
                   f"{human_bytes(w['link_bytes'])} over the link ({kinds or 'no requests'})")
        out.append("load s: listing, reading and decoding (Pillow) every image of the train and "
                   "test splits, in a new Spark application" +
                   ("" if s["quick"] else " (after a warm-up on local files)") +
                   "; hit ratio: bytes Shoal served from its cache; over the link: bytes both "
                   "ways; object GETs: counted at the link")
        return out

    @staticmethod
    def chart(res: dict, path: Path):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        trials = sorted({r["trial"] for r in res["trials"]})
        by = {(r["trial"], r["reader"]): r for r in res["trials"]}
        fig, (ax_t, ax_b) = plt.subplots(1, 2, figsize=(11, 4.6))
        width = 0.38
        for ax, key in ((ax_t, "time"), (ax_b, "bytes")):
            for k, reader in enumerate(("s3a", "shoal")):
                rs = [by[(t, reader)] for t in trials if (t, reader) in by]
                xs = [r["trial"] + (k - 0.5) * width for r in rs]
                if key == "time":
                    ys = [r["load_seconds"] for r in rs]
                    labels = [f"{r['load_seconds']:.1f} s" if reader == "s3a" else
                              f"{r['load_seconds']:.1f} s\n{r['speedup_vs_s3a']:.1f}x\n"
                              f"{r['shoal']['hit_ratio']:.0%} hits" for r in rs]
                else:
                    ys = [r["link"]["bytes"] / 1e6 for r in rs]
                    labels = [f"{human_bytes(r['link']['bytes'])}\n{r['link']['object_gets']} GETs"
                              for r in rs]
                colours = ["#888888" if reader == "s3a" else
                           ("#8ec1e8" if r["trial"] == 1 else "#1f6fb5") for r in rs]
                bars = ax.bar(xs, ys, width, color=colours,
                              label="direct S3A" if reader == "s3a" else "Shoal (cold, then warm)")
                for b, text in zip(bars, labels):
                    ax.annotate(text, (b.get_x() + b.get_width() / 2, b.get_height()),
                                ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                                textcoords="offset points")
            ax.set_xticks(trials)
            ax.set_xticklabels([f"trial {t}" + ("\n(Shoal cold)" if t == 1 else "")
                                for t in trials])
            ax.set_ylabel("load time per trial (s)" if key == "time" else
                          "crossed the link per trial (MB)")
            top = max(r["load_seconds"] if key == "time" else r["link"]["bytes"] / 1e6
                      for r in res["trials"])
            ax.set_ylim(0, top * 1.4 if top > 0 else 1)
            ax.grid(axis="y", alpha=0.3)
        ax_t.legend(loc="upper right", fontsize=8)
        s, d, L, p = res["settings"], res["dataset"], res["link"], res["settings"]["preset"]
        fig.suptitle(f"{s['trials']} training trials, each a new Spark application ({s['master']}), "
                     f"over {d['images']} ImageNet-shaped JPEGs ({human_bytes(d['jpeg_bytes'])}) "
                     f"in S3\nlink '{s['link']}': {p['rtt_ms']:g} ms per request, "
                     f"{p['conn_mbit']:g} Mbit/s per connection, {p['link_mbit']:g} Mbit/s in all "
                     f"({L['mode']})", fontsize=9)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    def report(self):
        a = self.args
        res = self.summarize()
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        stem = out / f"demo-{a.link}{'-quick' if a.quick else ''}"
        png = stem.with_suffix(".png")
        self.chart(res, png)
        res["chart"] = str(png)
        stem.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
        d, L = res["dataset"], res["link"]
        header = (f"{a.trials} training trials over {d['images']} ImageNet-shaped JPEGs "
                  f"({human_bytes(d['jpeg_bytes'])}) in S3, link '{a.link}' ({L['mode']})")
        md = [f"## {res['title']}", "", f"`{res['command']}`, {res['date']}, "
              f"{res['total_seconds']:.0f} s: {header}", "", self.table(res, markdown=True), ""]
        md += [f"- {n}" for n in self.notes(res)] + ["", f"![chart]({png.name})", ""]
        stem.with_suffix(".md").write_text("\n".join(md))
        print(f"\n== {header}\n", flush=True)
        print(self.table(res), flush=True)
        print("\n" + "\n".join("  " + n for n in self.notes(res)), flush=True)
        try:
            shown = png.resolve().relative_to(Path.cwd())
        except ValueError:
            shown = png.resolve()
        print(f"\nchart: {shown}\n", flush=True)


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="scripts/demo.sh", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Training trials over an ImageNet-shaped dataset in a remote S3 store, each a "
                    "new Spark application: direct S3A against Shoal, both through the same "
                    "emulated link; a table and a chart of what each trial cost.",
        epilog="scripts/demo.sh runs setup first; --no-build skips `gradle --no-daemon jar`.")
    ap.add_argument("--link", choices=LINKS, default="same-region",
                    help="the emulated link to the store: a preset of benchmarks/bench.py "
                         "(default same-region)")
    ap.add_argument("--trials", type=int, default=None,
                    help="training trials (default 3; 2 with --quick)")
    ap.add_argument("--s3a-trials", type=int, default=None,
                    help="how many of the first trials also run direct S3A (default all; 1 with "
                         "--quick)")
    ap.add_argument("--images", type=int, default=None,
                    help="images in the dataset, train and test (default 600; 120 with --quick)")
    ap.add_argument("--classes", type=int, default=None, help="default 8; 4 with --quick")
    ap.add_argument("--quick", action="store_true",
                    help="a small dataset, 2 trials (direct S3A in the first), the delay proxy alone "
                         "(no network namespace), no warm-up before a trial: what the tests run")
    ap.add_argument("--netns", dest="netns", action="store_true", default=None,
                    help="put the store in a network namespace shaped with tc when possible (root, "
                         "iproute2): the default, but not with --quick")
    ap.add_argument("--no-netns", dest="netns", action="store_false",
                    help="the delay proxy alone shapes the link")
    ap.add_argument("--spark", choices=sorted(VENVS), default="3.5", help="Spark version (default 3.5)")
    ap.add_argument("--master", default="local[2]", help="Spark master (default local[2])")
    ap.add_argument("--out", default=str(REPO / "build" / "demo"),
                    help="where the results go: demo-LINK.json, .md, .png (default build/demo)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--jar", default=os.environ.get("SHOAL_JAR") or
                    str(REPO / "build" / "libs" / "shoal-0.1.0.jar"), help=argparse.SUPPRESS)
    ap.add_argument("--app-timeout", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--parse-only", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    a.argv = [x for x in argv if x != "--parse-only"]
    a.trials = a.trials if a.trials is not None else (2 if a.quick else 3)
    a.s3a_trials = a.s3a_trials if a.s3a_trials is not None else (1 if a.quick else a.trials)
    a.images = a.images or (120 if a.quick else 600)
    a.classes = a.classes or (4 if a.quick else 8)
    if a.trials < 2:
        ap.error("--trials: at least 2 (the first is cold, the others read the cache)")
    if not 1 <= a.s3a_trials <= a.trials:
        ap.error("--s3a-trials: 1 to --trials")
    if not 2 <= a.classes <= 100 or a.images < 2 * a.classes * 10:
        ap.error("--classes: 2 to 100, and --images at least 20 per class")
    if a.netns is None:
        a.netns = not a.quick
    a.app_timeout = a.app_timeout or (300 if a.quick else 900)
    return a


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.parse_only:
        return 0
    if not Path(args.jar).is_file():
        raise SystemExit(f"{args.jar} is missing: build it with `gradle --no-daemon jar`")
    venv = TOOLS / VENVS[args.spark]
    if not (venv / "bin" / "spark-submit").exists():
        raise SystemExit(f"{venv} has no spark-submit: run scripts/setup.sh")
    if not bench.jars_for(VENVS[args.spark])[1]:
        raise SystemExit(f"no hadoop-aws jars for {VENVS[args.spark]} in .tools/bench/jars: run "
                         f"benchmarks/setup.sh --s3a {VENVS[args.spark]} --no-alluxio")

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)
    demo = Demo(args)
    ok = False
    try:
        demo.run()
        ok = True
    except SystemExit as e:
        if isinstance(e.code, int) and e.code > 128:
            log(f"stopped by {signal.Signals(e.code - 128).name}; cleaning up")
        raise
    except RuntimeError as e:
        log(f"FAILED: {e}" + ("" if args.keep else "\n(--keep keeps the temporary directory)"))
    finally:
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)  # the clean-up runs to its end
        demo.stop()
        log("stopped the store and the link" + ("" if args.keep else
                                                ", removed the temporary directory"))
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_DFL)
    if not ok:
        return 1
    demo.report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
