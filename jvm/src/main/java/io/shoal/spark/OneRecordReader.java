package io.shoal.spark;

import java.io.IOException;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.io.Text;
import org.apache.hadoop.mapreduce.InputSplit;
import org.apache.hadoop.mapreduce.RecordReader;
import org.apache.hadoop.mapreduce.TaskAttemptContext;

/**
 * A reader whose split yields exactly one record, computed when it is first asked for: the shape of
 * Shoal's cache jobs, where a task does its work (load a file, free or stat a node) and reports the
 * result as its record.
 */
abstract class OneRecordReader<S extends InputSplit, V> extends RecordReader<Text, V> {
  private final Class<S> splitType;
  private S split;
  private Configuration conf;
  private Text key;
  private V value;

  OneRecordReader(Class<S> splitType) {
    this.splitType = splitType;
  }

  /** The record of this split, run on the task's node. */
  abstract V compute(S split, Configuration conf) throws IOException;

  /** The record's key. */
  abstract String keyOf(V value);

  @Override
  public final void initialize(InputSplit split, TaskAttemptContext context) {
    this.split = splitType.cast(split);
    this.conf = context.getConfiguration();
  }

  @Override
  public final boolean nextKeyValue() throws IOException {
    if (value != null || split == null) {
      return false;
    }
    value = compute(split, conf);
    key = new Text(keyOf(value));
    return true;
  }

  @Override
  public final Text getCurrentKey() {
    return key;
  }

  @Override
  public final V getCurrentValue() {
    return value;
  }

  @Override
  public final float getProgress() {
    return value == null ? 0 : 1;
  }

  @Override
  public void close() {}
}
