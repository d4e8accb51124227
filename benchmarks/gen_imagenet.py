#!/usr/bin/env python3
"""Generates an ImageNet-shaped dataset for the benchmark, deterministically.

    gen_imagenet.py --out DIR [--images N] [--classes C] [--test-fraction 0.1] [--seed 1]
                    [--rows-per-shard 256]

writes::

    DIR/imagenet/train/<wnid>/<wnid>_<n>.JPEG     JPEGs in class directories (ImageNet layout)
    DIR/imagenet/test/<wnid>/<wnid>_<n>.JPEG
    DIR/parquet/train/part-NNNNN.parquet           the same samples packed into shards, the layout
    DIR/parquet/test/part-NNNNN.parquet            of Analytics Zoo's ParquetDataset: columns
    DIR/parquet/{train,test}/_orca_metadata        image (encoded bytes), label, filename; schema JSON
    DIR/dataset.json                               counts, bytes, size distribution, settings

Sizes follow ImageNet's: most images are about 500x375 (either orientation), some smaller, a few
large; the JPEG size varies with the image's detail (a texture of random cells, finer = bigger),
drawn log-normally so that the mean is near 110 KB with a long tail (ImageNet train: mean ~110 KB,
median ~90 KB, a few over 1 MB).
"""
from __future__ import annotations

import argparse
import io
import json
import math
import sys
import time
from pathlib import Path

# resolutions, weights: ImageNet's most common shapes first
SHAPES = [((500, 375), 0.34), ((375, 500), 0.12), ((500, 333), 0.16), ((333, 500), 0.05),
          ((500, 500), 0.05), ((400, 300), 0.06), ((640, 480), 0.06), ((300, 225), 0.05),
          ("random-small", 0.07), ("random-large", 0.04)]


def _shape(rng):
    r = rng.random()
    acc = 0.0
    for shape, w in SHAPES:
        acc += w
        if r <= acc:
            break
    if shape == "random-small":
        return int(rng.integers(120, 400)), int(rng.integers(120, 400))
    if shape == "random-large":
        return int(rng.integers(700, 1400)), int(rng.integers(500, 1000))
    return shape


def make_jpeg(rng, class_id: int, detail: float) -> tuple[bytes, int, int]:
    """One JPEG; ``detail`` in (0, 1]: the texture cell is 1/detail pixels (clamped)."""
    import numpy as np
    from PIL import Image

    w, h = _shape(rng)
    cell = min(48.0, max(1.0, 1.0 / detail))
    gw, gh = max(2, int(w / cell)), max(2, int(h / cell))
    tex = rng.integers(0, 256, (gh, gw, 3), dtype=np.uint8)
    # a class tint so that classes differ visibly
    tint = np.array([(class_id * 67) % 256, (class_id * 151 + 80) % 256, (255 - class_id * 29) % 256],
                    dtype=np.uint16)
    tex = ((tex.astype(np.uint16) * 3 + tint) // 4).astype(np.uint8)
    img = Image.fromarray(tex).resize((w, h), Image.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=int(rng.choice([85, 90, 90, 95])))
    return buf.getvalue(), w, h


def generate(out: Path, images: int = 2400, classes: int = 20, test_fraction: float = 0.1,
             seed: int = 1, rows_per_shard: int = 256, quiet: bool = False) -> dict:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    t0 = time.monotonic()
    out = Path(out)
    rng = np.random.default_rng(seed)
    wnids = [f"n{10000000 + 7919 * i:08d}" for i in range(classes)]
    n_test = max(classes, int(round(images * test_fraction)))
    n_train = max(classes, images - n_test)
    sizes = {"train": [], "test": []}
    rows = {"train": [], "test": []}
    for split, n in (("train", n_train), ("test", n_test)):
        for k in range(n):
            c = k % classes
            # log-normal detail -> log-normal-ish bytes (median ~90 KB, mean ~110 KB)
            detail = math.exp(rng.normal(math.log(0.33), 0.55))
            data, w, h = make_jpeg(rng, c, detail)
            rel = f"{split}/{wnids[c]}/{wnids[c]}_{k // classes:06d}.JPEG"
            dest = out / "imagenet" / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
            sizes[split].append(len(data))
            rows[split].append({"filename": rel, "image": data, "label": c})
    schema = pa.schema([("filename", pa.string()), ("image", pa.binary()), ("label", pa.int64())])
    shards = {}
    for split in ("train", "test"):
        d = out / "parquet" / split
        d.mkdir(parents=True, exist_ok=True)
        # shuffled like ParquetDataset.write_from_directory(shuffle=True), deterministically
        order = rng.permutation(len(rows[split]))
        srows = [rows[split][i] for i in order]
        shards[split] = 0
        for s in range(0, len(srows), rows_per_shard):
            table = pa.Table.from_pylist(srows[s:s + rows_per_shard], schema=schema)
            pq.write_table(table, d / f"part-{shards[split]:05d}.parquet", compression="none",
                           row_group_size=rows_per_shard)
            shards[split] += 1
        # Analytics Zoo writes the schema next to the shards (ignored by Spark: leading "_")
        (d / "_orca_metadata").write_text(json.dumps({
            "filename": {"feature_type": "SCALAR", "dtype": "STRING", "shape": []},
            "image": {"feature_type": "IMAGE", "dtype": "UINT8", "shape": []},
            "label": {"feature_type": "SCALAR", "dtype": "INT64", "shape": []}}) + "\n")
    all_sizes = np.array(sizes["train"] + sizes["test"])
    pq_bytes = sum(p.stat().st_size for p in (out / "parquet").rglob("*.parquet"))
    info = {
        "images": int(all_sizes.size), "train": n_train, "test": n_test, "classes": classes,
        "seed": seed, "rows_per_shard": rows_per_shard, "shards": shards,
        "jpeg_bytes": int(all_sizes.sum()), "parquet_bytes": int(pq_bytes),
        "jpeg_size_kb": {"mean": round(float(all_sizes.mean()) / 1e3, 1),
                         "median": round(float(np.median(all_sizes)) / 1e3, 1),
                         "p10": round(float(np.percentile(all_sizes, 10)) / 1e3, 1),
                         "p90": round(float(np.percentile(all_sizes, 90)) / 1e3, 1),
                         "max": round(float(all_sizes.max()) / 1e3, 1)},
        "generate_seconds": round(time.monotonic() - t0, 2),
    }
    (out / "dataset.json").write_text(json.dumps(info, indent=1) + "\n")
    if not quiet:
        print(f"dataset: {info['images']} JPEGs ({info['jpeg_bytes'] / 1e6:.1f} MB, mean "
              f"{info['jpeg_size_kb']['mean']} KB, median {info['jpeg_size_kb']['median']} KB) in "
              f"{classes} classes, {n_train} train / {n_test} test, + {sum(shards.values())} "
              f"Parquet shards ({pq_bytes / 1e6:.1f} MB) in {info['generate_seconds']} s", flush=True)
    return info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--images", type=int, default=2400)
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--test-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rows-per-shard", type=int, default=256)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    generate(a.out, a.images, a.classes, a.test_fraction, a.seed, a.rows_per_shard, a.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
