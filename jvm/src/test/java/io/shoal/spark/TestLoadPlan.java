package io.shoal.spark;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.BlockLocation;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.hadoop.mapreduce.InputSplit;
import org.junit.Test;

/**
 * The load's tasks are planned while the listing streams past, in memory bounded by the hosts and
 * the task size, not by the number of files: counted over a listing of 100,000 files.
 */
public class TestLoadPlan {
  private static final String[] HOSTS = {"h1", "h2", "h3", "h4"};
  private static final int FILES = 100_000;

  /** A listing of {@code n} files made one at a time, placed round the hosts by a hash. */
  private static final class Listing implements RemoteIterator<LocatedFileStatus> {
    private final LoadPlan plan;
    private final int files;
    private int next;
    long peakPending;
    int splitsAtHalf = -1;
    long filesAtHalf = -1;

    Listing(LoadPlan plan, int files) {
      this.plan = plan;
      this.files = files;
    }

    @Override
    public boolean hasNext() {
      return next < files;
    }

    @Override
    public LocatedFileStatus next() {
      // What the plan holds before it sees this file.
      peakPending = Math.max(peakPending, plan.pendingFiles());
      if (next == files / 2) {
        splitsAtHalf = plan.splitCount();
        filesAtHalf = plan.files();
      }
      int i = next++;
      String host = HOSTS[Integer.remainderUnsigned(("f" + i).hashCode() * 0x9E3779B9, 4)];
      Path p = new Path("shoal:///data/train/class" + (i % 1000) + "/img" + i + ".jpg");
      long len = i % 97 == 0 ? 0 : 1000 + i % 100_000;
      FileStatus st = new FileStatus(len, false, 1, 128 << 20, 0, p);
      BlockLocation[] locs = {
        new BlockLocation(new String[] {host + ":9866"}, new String[] {host}, 0, len)
      };
      return new LocatedFileStatus(st, locs);
    }
  }

  @Test
  public void tasksAreBuiltAsTheListingStreamsAndWaitingFilesStayBounded() throws Exception {
    Configuration conf = new Configuration(false);
    conf.set(LoadPlan.TASK_FILES, "1000");
    conf.set(LoadPlan.TASK_SIZE, "64m");
    LoadPlan plan = new LoadPlan(conf);
    Listing listing = new Listing(plan, FILES);
    List<InputSplit> splits = plan.addAll(listing).finish();

    long empty = (FILES + 96) / 97;
    assertEquals(empty, plan.emptyFiles());
    assertEquals(FILES - empty, plan.files());
    // At most one open group per host, each under a task's bound.
    assertTrue(
        "files waiting at once: " + listing.peakPending, listing.peakPending < HOSTS.length * 1000);
    assertTrue(plan.peakPendingFiles() <= HOSTS.length * 1000);
    // Tasks were made while the listing went on, not at its end: all but the open groups' files.
    long inTasks = listing.filesAtHalf - HOSTS.length * 1000L;
    assertTrue(
        "tasks at half the listing: " + listing.splitsAtHalf,
        listing.splitsAtHalf >= inTasks / 1000);

    Map<String, Long> byHost = new HashMap<>();
    long files = 0;
    long bytes = 0;
    for (InputSplit s : splits) {
      FileGroupSplit g = (FileGroupSplit) s;
      assertTrue(g.toString(), g.count() <= 1000 && g.count() > 0);
      assertTrue(g.toString(), g.bytes() <= 64 << 20 || g.count() == 1);
      files += g.count();
      bytes += g.bytes();
      byHost.merge(g.host(), (long) g.count(), Long::sum);
    }
    assertEquals(plan.files(), files);
    assertEquals(plan.bytes(), bytes);
    assertEquals(HOSTS.length, byHost.size());
    // What the driver keeps per file: its path, length, ETag and version packed, no FileStatus.
    double perFile = (double) plan.payloadBytes() / files;
    assertTrue("bytes per planned file: " + perFile, perFile < 60);
  }

  @Test
  public void progressCountsRunningTasksUntilTheirEnd() {
    ProgressCount c = new ProgressCount();
    assertEquals(0, c.done(0, 0)[0]);
    // Heartbeats: two running tasks, the later report of a task replacing its earlier one.
    c.running(1, 10, 1000);
    c.running(2, 5, 500);
    c.running(1, 30, 3000);
    assertEquals(35, c.done(0, 0)[0]);
    assertEquals(3500, c.done(0, 0)[1]);
    // Task 1 ends: its 40 files are in the finished total now, not counted twice.
    c.ended(1);
    assertEquals(45, c.done(40, 4000)[0]);
    assertEquals(4500, c.done(40, 4000)[1]);
    c.ended(2);
    assertEquals(40, c.done(40, 4000)[0]);
  }

  @Test
  public void aHostsFilesFillSeveralGroupsInTurn() throws Exception {
    Configuration conf = new Configuration(false);
    conf.setInt(LoadPlan.GROUPS_PER_HOST, 4);
    LoadPlan plan = new LoadPlan(conf);
    Listing listing = new Listing(plan, 2_000);
    List<InputSplit> splits = plan.addAll(listing).finish();
    // 2,000 files over 4 hosts fit one task each; four groups per host make 16 tasks.
    assertEquals(16, splits.size());
    for (InputSplit s : splits) {
      int n = ((FileGroupSplit) s).count();
      assertTrue(s.toString(), n > 50 && n < 250);
    }
    assertTrue(plan.peakPendingFiles() <= plan.files());
  }
}
