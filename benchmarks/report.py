"""Tables, targets, CSV and the chart of a benchmark run (used by bench.py; no Spark needed).

    python benchmarks/report.py benchmarks/results/same-region-small.json   # re-render a result
"""
from __future__ import annotations

import csv
import json
import math
import statistics
import sys
from pathlib import Path

CACHED = {"alluxio", "shoal"}
ORDER = ["s3a", "s3a-prefetch", "alluxio cold", "alluxio warm", "shoal cold", "shoal warm", "local"]


def label_of(rec) -> str:
    c = rec["config"]
    if c in CACHED:
        return f"{c} {'cold' if rec['epoch'] == 0 else 'warm'}"
    return c


def _stats(xs):
    return {"n": len(xs), "mean": statistics.fmean(xs),
            "std": statistics.stdev(xs) if len(xs) > 1 else 0.0,
            "min": min(xs), "max": max(xs), "samples": xs}


def link_use(recs, link_mbit):
    """(MB moved per epoch, the link's utilisation) of epoch records: bytes that crossed the
    link / (link bandwidth x epoch time), averaged over the epochs; None where not recorded."""
    moved = [(r["link_bytes"], r["seconds"]) for r in recs if r.get("link_bytes") is not None]
    if not moved:
        return None, None
    mb = statistics.fmean(b for b, _ in moved) / 1e6
    if not link_mbit:
        return mb, None
    return mb, statistics.fmean(b * 8 / (link_mbit * 1e6 * s) for b, s in moved if s > 0)


def _mean_of(recs, key):
    xs = [r[key] for r in recs if r.get(key) is not None]
    return statistics.fmean(xs) if xs else None


def first_epochs(recs) -> set:
    """(pid, format, epoch) of every application's first epoch of each format: it carries the
    JIT's and the Python workers' first work on real data whatever the source, which the
    warm-up does not take away, so a cache's cold epoch is compared with the others' first."""
    first = {}
    for r in recs:
        if r.get("kind") == "epoch":
            k = (r.get("pid"), r["format"])
            first[k] = min(first.get(k, r["epoch"]), r["epoch"])
    return {(pid, fmt, e) for (pid, fmt), e in first.items()}


def summarize(recs, configs=None, link_mbit=None) -> list:
    """One row per (scenario, format, label): n, mean, std, min, max, speedup over s3a, what
    crossed the link (MB per epoch, utilisation of the link's bandwidth), the CPU seconds per
    epoch of the application side and of the emulated link, and the mean of the epochs that
    were their application's first of the format."""
    groups = {}
    for r in recs:
        if r.get("kind") != "epoch":
            continue
        groups.setdefault((r["scenario"], r["format"], label_of(r)), []).append(r)
    firsts = first_epochs(recs)
    rows = []
    for (scen, fmt, label), rs in groups.items():
        mb, util = link_use(rs, link_mbit)
        first = [r["seconds"] for r in rs if (r.get("pid"), fmt, r["epoch"]) in firsts]
        rows.append({"scenario": scen, "format": fmt, "config": label,
                     **_stats([r["seconds"] for r in rs]), "link_mb": mb, "link_util": util,
                     "cpu_app": _mean_of(rs, "cpu_app"), "cpu_link": _mean_of(rs, "cpu_link"),
                     "first_mean": statistics.fmean(first) if first else None})
    base = {(r["scenario"], r["format"]): r["mean"] for r in rows if r["config"] == "s3a"}
    for r in rows:
        b = base.get((r["scenario"], r["format"]))
        r["speedup_vs_s3a"] = (b / r["mean"]) if b and r["mean"] > 0 else None
    rows.sort(key=lambda r: (r["scenario"] != "epochs", r["scenario"], r["format"] != "jpeg",
                             r["format"], ORDER.index(r["config"]) if r["config"] in ORDER else 99))
    return rows


def targets(rows, preset=None) -> list:
    """The issues' targets, per scenario and format, as measured (never asserted): issue 1's,
    then issue 18's on the link's cost (cold against warm, cold against direct S3A)."""
    out = []
    keys = sorted({(r["scenario"], r["format"]) for r in rows})
    for scen, fmt in keys:
        g = {r["config"]: r for r in rows if r["scenario"] == scen and r["format"] == fmt}
        s3a, warm, cold = g.get("s3a"), g.get("shoal warm"), g.get("shoal cold")
        local, awarm = g.get("local"), g.get("alluxio warm")

        def add(name, want, value, ok, why=""):
            out.append({"scenario": scen, "format": fmt, "target": name, "want": want,
                        "measured": value, "met": ok, "note": why})

        if s3a and warm:
            x = s3a["mean"] / warm["mean"]
            add("warm Shoal vs direct S3A", ">= 5x faster", f"{x:.2f}x", x >= 5)
            if s3a["n"] > 1 and warm["n"] > 1:
                ratio = warm["std"] / s3a["std"] if s3a["std"] > 0 else math.inf
                add("spread of warm Shoal epochs vs S3A's", "std <= 1/4 of S3A's",
                    f"{warm['std']:.3f}s vs {s3a['std']:.3f}s ({ratio:.2f})", ratio <= 0.25)
        if s3a and cold:
            x = s3a["mean"] / cold["mean"]
            add("cold Shoal vs direct S3A", "no slower (>= 1.0x)", f"{x:.2f}x", x >= 1.0)
        if local and warm:
            x = warm["mean"] / local["mean"]
            add("warm Shoal vs local copy", "within 1.15x", f"{x:.2f}x the local time", x <= 1.15)
        if awarm and warm:
            x = awarm["mean"] / warm["mean"]
            add("warm Shoal vs warm Alluxio client cache", ">= 2x faster", f"{x:.2f}x", x >= 2)
        if cold and warm and preset == "same-region" and fmt == "jpeg" and scen == "epochs":
            x = cold["mean"] / warm["mean"]
            add("cold Shoal epoch vs warm (issue 18)", "within 1.5x", f"{x:.2f}x", x <= 1.5)
        want = {"parquet": 1.5, "jpeg": 6.0 if preset == "wan" else None}.get(fmt)
        if s3a and cold and want:
            x = s3a["mean"] / cold["mean"]
            add("cold Shoal vs direct S3A (issue 18)", f">= {want:g}x faster", f"{x:.2f}x",
                x >= want)
    return out


def write_csv(results, path):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scenario", "format", "config", "n", "mean_s", "std_s", "min_s", "max_s",
                    "speedup_vs_s3a", "link_mb_per_epoch", "link_utilisation", "preset", "rtt_ms", "conn_mbit", "link_mbit", "link_mode",
                    "images", "jpeg_mb", "samples_s"])
        s = results["settings"]
        for r in results["table"]:
            w.writerow([r["scenario"], r["format"], r["config"], r["n"], f"{r['mean']:.3f}",
                        f"{r['std']:.3f}", f"{r['min']:.3f}", f"{r['max']:.3f}",
                        f"{r['speedup_vs_s3a']:.2f}" if r["speedup_vs_s3a"] else "",
                        f"{r['link_mb']:.1f}" if r.get("link_mb") is not None else "",
                        f"{r['link_util']:.3f}" if r.get("link_util") is not None else "",
                        s["preset"], s["link"]["rtt_ms"], s["link"]["conn_mbit"],
                        s["link"]["link_mbit"], results["link"]["mode"],
                        results["dataset"]["images"],
                        f"{results['dataset']['jpeg_bytes'] / 1e6:.1f}",
                        " ".join(f"{x:.3f}" for x in r["samples"])])


def chart(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["table"]
    panels = sorted({(r["scenario"], r["format"]) for r in rows},
                    key=lambda k: (k[0] != "epochs", k[0], k[1] != "jpeg", k[1]))
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(max(9.0, 5.2 * len(panels)), 5.0), squeeze=False)
    colours = {"s3a": "#888888", "s3a-prefetch": "#b0b0b0", "alluxio cold": "#f2b48a",
               "alluxio warm": "#e0702c", "shoal cold": "#8ec1e8", "shoal warm": "#1f6fb5",
               "local": "#4c9a4c"}
    for ax, (scen, fmt) in zip(axes[0], panels):
        g = [r for r in rows if r["scenario"] == scen and r["format"] == fmt]
        xs = range(len(g))
        ax.bar(xs, [r["mean"] for r in g], yerr=[r["std"] for r in g], capsize=4,
               color=[colours.get(r["config"], "#999") for r in g], alpha=0.9)
        for i, r in enumerate(g):
            ax.scatter([i] * len(r["samples"]), r["samples"], s=10, color="black", zorder=3)
            sp = r.get("speedup_vs_s3a")
            ax.annotate(f"{r['mean']:.1f}s" + (f"\n{sp:.1f}x" if sp else ""),
                        (i, r["mean"] + r["std"]), ha="center", va="bottom", fontsize=8,
                        xytext=(0, 2), textcoords="offset points")
        ax.set_xticks(list(xs))
        ax.set_xticklabels([r["config"] for r in g], rotation=30, ha="right")
        ax.set_ylabel("epoch load time (s)")
        ax.set_title(f"{scen} scenario, {fmt}" + (" (1 app per epoch)" if scen == "trials" else ""),
                     fontsize=10)
        ax.set_ylim(0, max(r["max"] for r in g) * 1.25)
        ax.grid(axis="y", alpha=0.3)
    s, d = results["settings"], results["dataset"]
    fig.suptitle(f"Spark {s['master']} loading {d['images']} ImageNet-shaped images "
                 f"({d['jpeg_bytes'] / 1e6:.0f} MB) from S3 over preset '{s['preset']}'\n"
                 f"({s['link']['rtt_ms']:g} ms/request, {s['link']['conn_mbit']:g} Mbit/s per "
                 f"connection, {s['link']['link_mbit']:g} Mbit/s link; {results['link']['mode']})"
                 "\nbars: mean +- std of epoch load time; dots: single epochs; labels: mean, "
                 "speedup over direct S3A", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def render(results, chart_path=None) -> str:
    s, d, L = results["settings"], results["dataset"], results["link"]
    m = results["machine"]
    lines = [f"## {results['title']}", "",
             f"- date {results['date']}, command `{results['command']}`, "
             f"total {results['total_seconds']} s",
             f"- machine: {m['cpu']}, {m['cores']} cores, {m['memory']}, kernel {m['kernel']}, "
             f"{m['java']}",
             f"- link preset `{s['preset']}`: {s['link']['rtt_ms']:g} ms per request, "
             f"{s['link']['conn_mbit']:g} Mbit/s per connection, {s['link']['link_mbit']:g} Mbit/s "
             f"link; mode {L['mode']}: {L['note']}",
             f"- measured through the link: {L.get('measured')}",
             f"- dataset: {d['images']} JPEGs ({d['train']} train / {d['test']} test, "
             f"{d['classes']} classes), {d['jpeg_bytes'] / 1e6:.1f} MB, mean "
             f"{d['jpeg_size_kb']['mean']} KB, median {d['jpeg_size_kb']['median']} KB; "
             f"Parquet {sum(d['shards'].values())} shards, {d['parquet_bytes'] / 1e6:.1f} MB",
             f"- Spark {s['spark']}, `{s['master']}`, {s['epochs']} epochs per app (epochs "
             f"scenario), {s['trials']} apps (trials scenario); caches {s['cache_size']} disk, "
             f"page {s['page_size']}, Shoal memory tier {s['shoal_memory']}",
             ""]
    for c in results.get("copy", []):
        if not c.get("skipped"):
            lines.append(f"- {c.get('scenario', '')} scenario: local copy (distcp practice, {c['threads']} parallel copies over the "
                         f"link): {c['files']} files, {c['bytes'] / 1e6:.1f} MB in "
                         f"{c['seconds']:.1f} s (not in the epoch times)")
    lines += ["", "| scenario | format | configuration | n | mean s | std s | min s | max s | "
              "speedup vs S3A | MB over the link per epoch | link utilisation | "
              "app's first epoch s | CPU s per epoch: app / link |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results["table"]:
        sp = f"{r['speedup_vs_s3a']:.2f}x" if r["speedup_vs_s3a"] else "-"
        mb = f"{r['link_mb']:.1f}" if r.get("link_mb") is not None else "-"
        util = f"{100 * r['link_util']:.1f}%" if r.get("link_util") is not None else "-"
        first = f"{r['first_mean']:.2f}" if r.get("first_mean") is not None else "-"
        cpu = (f"{r['cpu_app']:.2f} / {r['cpu_link']:.2f}"
               if r.get("cpu_app") is not None and r.get("cpu_link") is not None else "-")
        lines.append(f"| {r['scenario']} | {r['format']} | {r['config']} | {r['n']} | "
                     f"{r['mean']:.2f} | {r['std']:.2f} | {r['min']:.2f} | {r['max']:.2f} | {sp} | "
                     f"{mb} | {util} | {first} | {cpu} |")
    lines += ["", "Link utilisation: bytes that crossed the link during an epoch (both ways, "
              "counted by the delay proxy) / (the link's bandwidth x the epoch's time), the "
              "mean over the row's epochs; a cache's cold row is its first epoch. App's first "
              "epoch: the mean of the row's epochs that were their application's first of the "
              "format (a cache's cold epoch is always one; every epoch of the trials scenario "
              "is). CPU per epoch: the machine's busy time during the epoch (both cores), split "
              "into the emulated link's processes (delay proxy and S3 server, which a real "
              "node does not run) and the rest (Spark, its Python workers, the cache under "
              "test)."]
    if results["targets"]:
        lines += ["", "| scenario | format | target | wanted | measured | met |",
                  "|---|---|---|---|---|---|"]
        for t in results["targets"]:
            lines.append(f"| {t['scenario']} | {t['format']} | {t['target']} | {t['want']} | "
                         f"{t['measured']} | {'yes' if t['met'] else '**no**'} |")
    for k, v in results.get("skipped", {}).items():
        lines.append(f"\n- skipped {k}: {v}")
    for k, v in results.get("failures", {}).items():
        lines.append(f"\n- FAILED {k}: {v.splitlines()[0] if v else ''}")
    if chart_path:
        try:
            chart_path = Path(chart_path).resolve().relative_to(Path(__file__).resolve().parent.parent)
        except ValueError:
            pass
        lines.append(f"\nchart: {chart_path}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    src = Path(sys.argv[1])
    res = json.loads(src.read_text())
    png = src.with_suffix(".png")
    text = render(res, png if png.exists() else None)
    src.with_suffix(".md").write_text(text)
    print(text)
