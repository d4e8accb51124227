#!/usr/bin/env python3
"""Image classification in PyTorch over a directory of JPEGs: a plain local-files training
loop. Pointed at a ``shoal mount`` it reads the remote dataset through Shoal unchanged; the
only Shoal-specific part is optional: with ``--shoal-mount`` it prints Shoal's hit ratio per
epoch, read from the mount's ``user.shoal.stats`` extended attribute.

    shoal --conf shoal-site.xml mount --daemon /mnt/shoal
    examples/fuse_training.py /mnt/shoal/datasets/imagenet/train --epochs 3 --shoal-mount /mnt/shoal
    fusermount3 -u /mnt/shoal

Per epoch it prints the time spent waiting for data (load), the time computing, and, with
``--shoal-mount``, the hits and misses of Shoal's node cache during the epoch (reads the
kernel served from its page cache reach neither).
"""
from __future__ import annotations

import argparse
import json
import os
import time

import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

SUFFIXES = (".jpg", ".jpeg", ".png")


class ImageFolder(Dataset):
    """``root/<class>/<image>``: what torchvision's ImageFolder reads, with Pillow only."""

    def __init__(self, root: str, size: int = 64):
        self.items = []
        self.classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
        for label, cls in enumerate(self.classes):
            for dirpath, _, files in os.walk(os.path.join(root, cls)):
                self.items += [(os.path.join(dirpath, f), label) for f in sorted(files)
                               if f.lower().endswith(SUFFIXES)]
        if not self.items:
            raise FileNotFoundError(f"no images under {root}")
        self.size = size

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        path, label = self.items[i]
        with Image.open(path) as img:
            img = img.convert("RGB").resize((self.size, self.size))
        x = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
        return x.view(self.size, self.size, 3).permute(2, 0, 1).float() / 255.0, label


def model(classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.LazyLinear(classes))


def shoal_stats(mount: str | None) -> dict:
    if not mount:
        return {}
    return json.loads(os.getxattr(mount, "user.shoal.stats"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", help="a directory of <class>/<image> files (e.g. under a shoal mount)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--shoal-mount", help="the mount point, to report Shoal's hit ratio")
    args = ap.parse_args()
    torch.manual_seed(0)
    ds = ImageFolder(args.data)
    loader = DataLoader(ds, batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
                        persistent_workers=args.workers > 0)
    net = model(len(ds.classes))
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    loss_fn = nn.CrossEntropyLoss()
    print(f"{len(ds)} images, {len(ds.classes)} classes, {args.epochs} epochs")
    for epoch in range(1, args.epochs + 1):
        before = shoal_stats(args.shoal_mount)
        load = compute = 0.0
        seen = correct = 0
        t = time.perf_counter()
        for x, y in loader:
            t_data = time.perf_counter()
            load += t_data - t
            opt.zero_grad()
            out = net(x)
            loss = loss_fn(out, y)
            loss.backward()
            opt.step()
            correct += int((out.argmax(1) == y).sum())
            seen += len(y)
            t = time.perf_counter()
            compute += t - t_data
        line = (f"epoch {epoch}: load {load:.2f}s, compute {compute:.2f}s, "
                f"{seen / (load + compute):.0f} images/s, train accuracy {correct / seen:.1%}")
        if args.shoal_mount:
            after = shoal_stats(args.shoal_mount)
            hits = after["cache_hits"] - before["cache_hits"]
            misses = after["cache_misses"] - before["cache_misses"]
            ratio = f"{hits / (hits + misses):.1%}" if hits + misses else "n/a (all from the page cache)"
            line += f", Shoal hit ratio {ratio} ({hits} hits, {misses} misses)"
        print(line, flush=True)


if __name__ == "__main__":
    main()
