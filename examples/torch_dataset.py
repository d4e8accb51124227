#!/usr/bin/env python3
"""A ``torch.utils.data.Dataset`` that reads images through Shoal's fsspec filesystem, without
Spark and without a mount: the first epoch fetches from the store into this node's cache, the
next ones read the cache (the same cache directories Spark executors and ``shoal mount`` use).

    pip install ./python torch pillow
    export SHOAL_CONF=shoal-site.xml                   # or pass --conf KEY=VALUE ...
    examples/torch_dataset.py shoal:///datasets/imagenet/train --epochs 3 --workers 4

Each image directory's name is its label (the ImageFolder layout). DataLoader workers may be
forked: each opens its own Shoal handles (the parent's are never used after a fork).
"""
from __future__ import annotations

import argparse
import io
import time

import fsspec
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class ShoalImageFolder(Dataset):
    """Images under ``url`` (``shoal://`` or ``alluxio://``), labelled by their directory."""

    def __init__(self, url: str, storage_options: dict | None = None, size: int = 64):
        self.fs = fsspec.filesystem("shoal", **(storage_options or {}))
        self.paths = sorted(p for p in self.fs.find(url) if p.lower().endswith(IMAGE_SUFFIXES))
        if not self.paths:
            raise FileNotFoundError(f"no images under {url}")
        self.classes = sorted({p.rsplit("/", 2)[-2] for p in self.paths})
        self.size = size

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        path = self.paths[i]
        before = self.fs.counters()
        data = self.fs.cat_file(path)
        after = self.fs.counters()
        img = Image.open(io.BytesIO(data)).convert("RGB").resize((self.size, self.size))
        x = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
        x = x.view(self.size, self.size, 3).permute(2, 0, 1).float() / 255.0
        label = self.classes.index(path.rsplit("/", 2)[-2])
        # What this read cost the cache, summed by the caller (workers are other processes).
        hits = after["cache_hits"] - before["cache_hits"]
        misses = after["cache_misses"] - before["cache_misses"]
        return x, label, hits, misses


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url", help="shoal:///path/to/images")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--conf", nargs="*", default=[], metavar="KEY=VALUE",
                    help="Shoal configuration over $SHOAL_CONF's files")
    args = ap.parse_args()
    options = dict(kv.split("=", 1) for kv in args.conf)
    ds = ShoalImageFolder(args.url, options)
    loader = DataLoader(ds, batch_size=args.batch_size, shuffle=True, num_workers=args.workers)
    print(f"{len(ds)} images, {len(ds.classes)} classes")
    for epoch in range(1, args.epochs + 1):
        started = time.perf_counter()
        images = hits = misses = 0
        for x, _, h, m in loader:
            images += x.shape[0]
            hits += int(h.sum())
            misses += int(m.sum())
        secs = time.perf_counter() - started
        ratio = hits / (hits + misses) if hits + misses else 1.0
        print(f"epoch {epoch}: {images} images in {secs:.2f}s ({images / secs:.0f}/s), "
              f"Shoal hit ratio {ratio:.1%} ({hits} hits, {misses} misses)")


if __name__ == "__main__":
    main()
