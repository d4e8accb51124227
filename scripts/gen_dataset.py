#!/usr/bin/env python3
"""Generates a small, deterministic image-classification dataset for Shoal's demo and tests.

    scripts/gen_dataset.py --out DIR [--seed 7] [--classes 4] [--train-per-class 24]
                           [--test-per-class 6] [--min-size 48] [--max-size 320] [--large 1]

writes::

    DIR/images/train/<class>/<class>_<nnnn>.jpg     real JPEGs (Pillow), varied sizes
    DIR/images/test/<class>/<class>_<nnnn>.jpg
    DIR/parquet/images.parquet                      one row per image (see COLUMNS), several row groups
    DIR/manifest.json                               per file: size and sha256; counts per class

The same arguments (and the same Pillow / pyarrow) give the same bytes. ``--large N`` adds N noisy
multi-megabyte JPEGs to the train split of the first class, so reads cross several cache pages.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import sys
from pathlib import Path

CLASS_NAMES = ["cat", "dog", "bird", "fish", "frog", "horse", "ship", "truck", "plane", "deer"]
# (column, arrow type) of the Parquet table
COLUMNS = ["path", "split", "label", "label_id", "width", "height", "nbytes", "sha256", "caption",
           "brightness", "image"]


def make_image(rng: random.Random, class_id: int, width: int, height: int, noisy: bool = False):
    from PIL import Image, ImageDraw

    hue = (class_id * 67) % 256
    base = (hue, (hue * 3 + 80) % 256, (255 - hue) % 256)
    img = Image.new("RGB", (width, height), base)
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(3, 12)):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1, y1 = x0 + rng.randint(4, max(5, width // 2)), y0 + rng.randint(4, max(5, height // 2))
        colour = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        else:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
    if noisy:  # noise does not compress: a big file
        noise = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
        img = Image.blend(img, noise, 0.6)
    return img


def encode_jpeg(img, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality, optimize=False, progressive=False)
    return buf.getvalue()


def generate(out: Path, seed: int = 7, classes: int = 4, train_per_class: int = 24,
             test_per_class: int = 6, min_size: int = 48, max_size: int = 320, large: int = 1,
             large_size: int = 1600, row_group_size: int = 16, quiet: bool = False) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not 1 <= classes <= len(CLASS_NAMES):
        raise ValueError(f"--classes must be 1..{len(CLASS_NAMES)}")
    if min_size < 8 or max_size < min_size:
        raise ValueError("need 8 <= --min-size <= --max-size")
    rng = random.Random(seed)
    out = Path(out)
    files, rows = [], []
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        for class_id, label in enumerate(CLASS_NAMES[:classes]):
            n_large = large if (split == "train" and class_id == 0) else 0
            for i in range(per_class + n_large):
                is_large = i >= per_class
                if is_large:
                    w, h = large_size, large_size * 3 // 4
                else:
                    w, h = rng.randint(min_size, max_size), rng.randint(min_size, max_size)
                img = make_image(rng, class_id, w, h, noisy=is_large)
                data = encode_jpeg(img, quality=95 if is_large else rng.choice([70, 85, 95]))
                rel = f"images/{split}/{label}/{label}_{i:04d}.jpg"
                dest = out / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
                sha = hashlib.sha256(data).hexdigest()
                files.append({"path": rel, "size": len(data), "sha256": sha, "label": label,
                              "split": split})
                brightness = sum(img.resize((1, 1)).getpixel((0, 0))) / (3 * 255)
                rows.append({
                    "path": rel, "split": split, "label": label, "label_id": class_id,
                    "width": w, "height": h, "nbytes": len(data), "sha256": sha,
                    # a nullable column, so the check sees nulls too
                    "caption": None if i % 5 == 3 else f"a {label}, picture {i} ({split})",
                    "brightness": round(brightness, 6), "image": data,
                })
    schema = pa.schema([
        ("path", pa.string()), ("split", pa.string()), ("label", pa.string()),
        ("label_id", pa.int32()), ("width", pa.int32()), ("height", pa.int32()),
        ("nbytes", pa.int64()), ("sha256", pa.string()), ("caption", pa.string()),
        ("brightness", pa.float64()), ("image", pa.binary()),
    ])
    table = pa.Table.from_pylist(rows, schema=schema)
    pq_rel = "parquet/images.parquet"
    (out / pq_rel).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out / pq_rel, row_group_size=row_group_size, compression="snappy")
    pq_bytes = (out / pq_rel).read_bytes()
    files.append({"path": pq_rel, "size": len(pq_bytes),
                  "sha256": hashlib.sha256(pq_bytes).hexdigest(), "label": None, "split": None})

    counts = {}
    for f in files:
        if f["label"] is not None:
            key = f"{f['split']}/{f['label']}"
            counts[key] = counts.get(key, 0) + 1
    manifest = {
        "seed": seed, "classes": CLASS_NAMES[:classes], "images": len(rows),
        "parquet": pq_rel, "parquet_rows": table.num_rows,
        "parquet_row_groups": pq.ParquetFile(out / pq_rel).num_row_groups,
        "total_bytes": sum(f["size"] for f in files), "counts": counts, "files": files,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    if not quiet:
        print(f"wrote {len(rows)} JPEGs ({sum(r['nbytes'] for r in rows) / 1e6:.2f} MB) in "
              f"{classes} classes and {pq_rel} ({table.num_rows} rows, "
              f"{manifest['parquet_row_groups']} row groups, {len(pq_bytes) / 1e6:.2f} MB) to {out}")
    return manifest


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="output directory")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--classes", type=int, default=4, help=f"1..{len(CLASS_NAMES)}")
    ap.add_argument("--train-per-class", type=int, default=24)
    ap.add_argument("--test-per-class", type=int, default=6)
    ap.add_argument("--min-size", type=int, default=48, help="smallest image side, pixels")
    ap.add_argument("--max-size", type=int, default=320, help="largest image side, pixels")
    ap.add_argument("--large", type=int, default=1, help="extra multi-megabyte JPEGs (train, class 0)")
    ap.add_argument("--large-size", type=int, default=1600, help="width of the large JPEGs, pixels")
    ap.add_argument("--row-group-size", type=int, default=16, help="Parquet rows per row group")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    generate(a.out, seed=a.seed, classes=a.classes, train_per_class=a.train_per_class,
             test_per_class=a.test_per_class, min_size=a.min_size, max_size=a.max_size,
             large=a.large, large_size=a.large_size, row_group_size=a.row_group_size, quiet=a.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
