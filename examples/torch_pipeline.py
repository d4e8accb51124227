#!/usr/bin/env python3
"""A PyTorch training pipeline on current Spark over Shoal: JPEGs from ``shoal://`` and labels from
Parquet over ``alluxio://`` read by Spark, a small CNN trained with Spark's ``TorchDistributor``
(PyTorch's DistributedDataParallel on CPU, gloo), for several trials.

Every trial reads the dataset again through Shoal (Spark's ``binaryFile`` source and
``spark.read.parquet``), decodes and resizes the JPEGs with Pillow on the executors, and hands the
arrays to ``TorchDistributor``, which starts the training processes (``torchrun``) and shards the
data between them. Each trial prints its data-loading time, its training time and Shoal's hit
ratio over the loading: the first reads from the store, later ones from Shoal's node cache.

Install (Spark 3.4 or later has TorchDistributor; Spark 4 needs Java 17 or 21)::

    python3 -m venv torch-spark && . torch-spark/bin/activate
    pip install "pyspark>=4" pillow numpy torch
    # CPU-only machines can take the smaller CPU build of torch from PyTorch's own package index
    # (see the install selector on pytorch.org); PyPI's default build carries CUDA libraries.

Run::

    spark-submit --master 'local[4]' --driver-memory 4g --jars shoal-0.1.0.jar \\
      --conf spark.hadoop.shoal.mount.imagenet.path=/datasets/imagenet \\
      --conf spark.hadoop.shoal.mount.imagenet.uri=s3://my-bucket/imagenet \\
      --conf spark.hadoop.shoal.mount.imagenet.immutable=true \\
      examples/torch_pipeline.py \\
      --images shoal:///datasets/imagenet/images/train \\
      --labels alluxio://master:19998/datasets/imagenet/labels.parquet \\
      --trials 3 --iterations 30 --processes 2

``--jars`` is enough here: the application's first access to ``shoal://`` is a DataFrame read,
which loads the jar's code that registers ``shoal://`` and ``alluxio://`` on every Spark (and on
Spark 4 PySpark's SparkSession already does; see "Spark, Hadoop and Java" in the README). On a cluster, ``--conf spark.plugins=io.shoal.spark.ShoalPlugin`` places each file on
one executor's node, so that every trial reads it where it is cached.

The labels table has a ``path`` column (the image's path below the dataset root, e.g.
``images/train/cat/cat_0001.jpg``) and an integer ``label_id`` column, 0-based, as
``scripts/gen_dataset.py`` writes it. The decoded arrays travel from the executors to the driver
and to the training processes: this example suits data sets that fit in the driver's memory.

``--json-out FILE`` writes every trial's figures and losses as JSON. The counters and the report of
a trial come from ``pipeline_trials.py`` beside this file (copy both).
"""
from __future__ import annotations

import argparse
import io
import sys
import time

from pipeline_trials import hit_ratio, report_trial, shoal_counters, write_trials


def decode(size):
    """Runs on the executors: (path, JPEG bytes) -> (path, CHW float list in [-1, 1])."""

    def run(rows):
        import numpy as np
        from PIL import Image

        for row in rows:
            with Image.open(io.BytesIO(row.content)) as img:
                arr = np.asarray(img.convert("RGB").resize((size, size)), dtype=np.float32)
            yield row.path, ((arr.transpose(2, 0, 1) - 127.5) / 127.5).ravel().tolist()

    return run


def load(spark, args):
    """The decoded images and their labels as numpy arrays, read through Shoal."""
    import numpy as np
    from pyspark.sql import functions as F

    images = (spark.read.format("binaryFile").option("recursiveFileLookup", "true")
              .option("pathGlobFilter", "*.jpg").load(args.images).select("path", "content"))
    pixels = images.rdd.mapPartitions(decode(args.image_size)).toDF("path string, x array<float>")
    labels = spark.read.parquet(args.labels).select("path", "label_id")
    key = F.regexp_extract(F.col("path"), r"(images/.*)$", 1)
    rows = (pixels.withColumn("path", key).join(labels, "path")
            .orderBy("path").select("x", "label_id").collect())
    x = np.array([r.x for r in rows], dtype=np.float32).reshape(
        len(rows), 3, args.image_size, args.image_size)
    y = np.array([r.label_id for r in rows], dtype=np.int64)
    return x, y


def train(x, y, classes, iterations, learning_rate, seed):
    """Runs in every training process TorchDistributor starts; returns the losses averaged over
    the processes (the same list in each, whichever one TorchDistributor returns)."""
    import torch
    import torch.distributed as dist
    from torch import nn

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(seed)
    size = x.shape[-1]
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(8 * (size // 2) ** 2, 32), nn.ReLU(), nn.Linear(32, classes))
    ddp = nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.Adam(ddp.parameters(), lr=learning_rate)
    xs = torch.from_numpy(x[rank::world].copy())
    ys = torch.from_numpy(y[rank::world].copy())
    losses = []
    for _ in range(iterations):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(ddp(xs), ys)
        loss.backward()
        optimizer.step()
        mean = loss.detach().clone()
        dist.all_reduce(mean)
        losses.append(mean.item() / world)
    dist.destroy_process_group()
    return losses


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", required=True, help="directory of JPEGs (class directories)")
    ap.add_argument("--labels", required=True, help="Parquet table: path, label_id")
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=30, help="training iterations per trial")
    ap.add_argument("--processes", type=int, default=2, help="training processes")
    ap.add_argument("--image-size", type=int, default=32, help="images are resized to this")
    ap.add_argument("--learning-rate", type=float, default=0.01)
    ap.add_argument("--json-out")
    args = ap.parse_args(argv)

    from pyspark.ml.torch.distributor import TorchDistributor
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName("shoal-torch-pipeline").getOrCreate()
    print(f"Spark {spark.version}, {spark.sparkContext.defaultParallelism} cores", flush=True)
    trials = []
    for trial in range(1, args.trials + 1):
        before = shoal_counters(spark)
        t0 = time.perf_counter()
        x, y = load(spark, args)
        load_s = time.perf_counter() - t0
        cache = hit_ratio(before, shoal_counters(spark))
        t1 = time.perf_counter()
        distributor = TorchDistributor(num_processes=args.processes, local_mode=True,
                                       use_gpu=False)
        losses = distributor.run(train, x, y, int(y.max()) + 1, args.iterations,
                                 args.learning_rate, trial)
        train_s = time.perf_counter() - t1
        trials.append(report_trial(trial, int(len(y)), load_s, train_s, losses, cache))
    write_trials(args.json_out, spark.version, trials)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
