package io.shoal.hadoop;

import io.shoal.conf.Sizes;
import io.shoal.jni.NativeFileInfo;
import io.shoal.jni.NativeFs;
import io.shoal.jni.NativeMethods;
import io.shoal.jni.NativeReader;
import io.shoal.jni.NativeWriter;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.BlockLocation;
import org.apache.hadoop.fs.CreateFlag;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.GlobalStorageStatistics;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.ParentNotDirectoryException;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.PathFilter;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.hadoop.fs.StorageStatistics;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.security.UserGroupInformation;
import org.apache.hadoop.util.Progressable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Shoal namespace as a Hadoop {@link FileSystem}, under the {@code shoal://} scheme ({@link
 * AlluxioFileSystem} serves {@code alluxio://}). Both are registered through {@code
 * META-INF/services}, so no {@code fs.shoal.impl} setting is needed.
 *
 * <p>This class names only the Hadoop 3.2.0 API, so it loads on every supported Hadoop (3.2.x to
 * 3.4.x and later). On Hadoop 3.3.1 and later the schemes map to its subclasses {@code
 * ShoalFileSystem33} and {@code AlluxioFileSystem33}, which add {@code IOStatisticsSource} and
 * {@code openFile()} options; its streams and statuses likewise implement the newer interfaces
 * where Hadoop has them ({@code HadoopFeatures}). Loading this class installs that mapping ({@link
 * SchemeRegistration}).
 *
 * <p>The URI's authority is kept (so {@code shoal://host:19998/a/b} and {@code shoal:///a/b} both
 * pass Hadoop's path checks) but does not select anything: both name the Shoal path {@code /a/b}.
 * The working directory is {@code /}.
 *
 * <h2>Configuration</h2>
 *
 * Every key that starts with {@code shoal.} is handed to the native core, values read with {@link
 * Configuration#get(String)} so that variables are substituted. In Spark, set them as {@code
 * spark.hadoop.shoal.*}. The mounts:
 *
 * <ul>
 *   <li>{@code shoal.mount.<name>.path}: where the mount appears, e.g. {@code /datasets}; {@code /}
 *       is allowed, and the longest matching mount path wins;
 *   <li>{@code shoal.mount.<name>.uri}: the store, e.g. {@code s3://bucket/prefix} or {@code
 *       file:///data};
 *   <li>{@code shoal.mount.<name>.option.<key>}: a store option, e.g. {@code aws_region};
 *   <li>{@code shoal.mount.<name>.readonly}: {@code true} refuses writes (default {@code false}).
 * </ul>
 *
 * An {@code s3://} or {@code s3a://} mount takes what its own options do not set from Hadoop S3A's
 * keys ({@code fs.s3a.access.key}, {@code secret.key}, {@code session.token}, {@code endpoint},
 * {@code endpoint.region}, {@code path.style.access}, {@code connection.ssl.enabled}, and {@code
 * fs.s3a.bucket.<bucket>.*} overrides), so a cluster set up for S3A needs no new secrets; the
 * mapping is the native core's (see {@link #nativeConfig}).
 *
 * <p>Settings of this Java adapter, with their defaults:
 *
 * <ul>
 *   <li>{@value #READ_BUFFER_SIZE} = 1 MiB ({@value #DEFAULT_READ_BUFFER_SIZE} bytes): a stream's
 *       Java-side buffer; smaller sequential reads are served from it without crossing JNI, larger
 *       ones go to native code directly. Sizes take Shoal's size grammar ({@link Sizes}: {@code
 *       64k}, {@code 1.5m}, {@code 1g}), the same as the native core's.
 *   <li>{@value #WRITE_BUFFER_SIZE} = 1 MiB ({@value #DEFAULT_WRITE_BUFFER_SIZE} bytes): how much
 *       an output stream gathers before handing data to native code.
 *   <li>{@value #BLOCK_SIZE} = 128 MiB ({@value #DEFAULT_BLOCK_SIZE} bytes): the block size that
 *       file statuses report, which is how Spark splits files.
 * </ul>
 *
 * <h2>Opening files</h2>
 *
 * The node cache keys a file's pages by the object's version (ETag, generation, or length and
 * modification time), never by its path alone, so an open needs the version. {@code open()} asks
 * for the file's status, which the native metadata cache answers when it can (a listing or status
 * of the file within {@code shoal.metadata.ttl} fills it) and the store answers otherwise. {@code
 * openFile(path).withFileStatus(status)} with a {@link ShoalFileStatus} of the same path (from
 * {@code getFileStatus}, {@code listStatus}, {@code listFiles}...) skips that lookup entirely. The
 * option {@code fs.option.openfile.length} alone cannot: a length does not say which version of the
 * object is in the store, and trusting it could serve pages of an older version. Such an open is
 * accepted and goes through the metadata cache like {@code open()}, never through a fresh request
 * when the cache holds the file's status.
 *
 * <h2>Statistics</h2>
 *
 * {@link #getStorageStatistics()} (and, on Hadoop 3.3.1 and later, {@code getIOStatistics()})
 * report the native counters of this filesystem and every stream it opened ({@code cache_hits},
 * {@code cache_misses}, {@code bytes_from_memory}, {@code bytes_from_disk}, {@code
 * bytes_from_store}, {@code store_get_requests}, {@code store_metadata_requests}, {@code
 * readahead_pages}, {@code evictions}, {@code corrupt_pages}, {@code metadata_hits}, {@code
 * metadata_misses}); after close, the values at close. The counters of the whole process (every
 * Shoal filesystem) are registered in {@link GlobalStorageStatistics} as {@value
 * ShoalStorageStatistics#NAME}. {@link #close()} logs one INFO line summarising them.
 *
 * <h2>Semantics</h2>
 *
 * Files are written whole: data becomes visible when the output stream is closed, and a stream
 * whose close fails leaves nothing behind. Append, concat and truncate are not supported. There are
 * no delegation tokens ({@link #getCanonicalServiceName()} is null). After {@link #close()}, every
 * operation throws {@code IOException("filesystem closed")}.
 */
public class ShoalFileSystem extends FileSystem {
  private static final Logger LOG = LoggerFactory.getLogger(ShoalFileSystem.class);

  static {
    // A JVM that found this class through Hadoop's services file maps the schemes to the classes
    // for its Hadoop (ShoalFileSystem33 on 3.3.1 and later).
    SchemeRegistration.install();
  }

  public static final String SCHEME = "shoal";

  /** Keys with this prefix are passed to the native core. */
  public static final String CONFIG_PREFIX = "shoal.";

  private static final String MOUNT_PREFIX = "shoal.mount.";

  /** Hadoop S3A's keys, passed to the native core for s3:// and s3a:// mounts. */
  public static final String S3A_PREFIX = "fs.s3a.";

  /** S3A keys that hold secrets, after {@value #S3A_PREFIX} (or {@code fs.s3a.bucket.<b>.}). */
  private static final String[] S3A_SECRETS = {"access.key", "secret.key", "session.token"};

  public static final String READ_BUFFER_SIZE = "shoal.read.buffer.size";
  public static final long DEFAULT_READ_BUFFER_SIZE = 1L << 20;

  public static final String WRITE_BUFFER_SIZE = "shoal.write.buffer.size";
  public static final long DEFAULT_WRITE_BUFFER_SIZE = 1L << 20;

  public static final String BLOCK_SIZE = "shoal.block.size";
  public static final long DEFAULT_BLOCK_SIZE = 128L << 20;

  /** Entries a listing iterator fetches from native code at a time (one JNI crossing). */
  public static final String LIST_BATCH = "shoal.list.batch";

  public static final int DEFAULT_LIST_BATCH = 1000;

  /** Options of {@code openFile()} that are accepted even when mandatory. */
  static final String OPENFILE_OPTION_PREFIX = "fs.option.openfile.";

  // Hadoop's CommonPathCapabilities (3.2.2, 3.3.0 and later).
  private static final String FS_APPEND = "fs.capability.paths.append";
  private static final String FS_CONCAT = "fs.capability.paths.concat";
  private static final String FS_TRUNCATE = "fs.capability.paths.truncate";
  private static final String ETAGS_AVAILABLE = "fs.capability.etags.available";
  private static final String ETAGS_PRESERVED_IN_RENAME = "fs.capability.etags.preserved.in.rename";

  private URI uri;
  private Path workingDir;
  private volatile NativeFs nativeFs;
  private String owner;
  private int readBufferSize;
  private int writeBufferSize;
  private long blockSize;
  private int listBatch;
  private volatile boolean closing;
  private ShoalStorageStatistics storageStatistics;

  /** The counters at close; null while open. */
  private volatile long[] closedStats;

  @Override
  public String getScheme() {
    return SCHEME;
  }

  @Override
  public void initialize(URI name, Configuration conf) throws IOException {
    super.initialize(name, conf);
    setConf(conf);
    String scheme = name.getScheme() == null ? getScheme() : name.getScheme();
    scheme = scheme.toLowerCase(Locale.ROOT);
    String authority = name.getAuthority();
    uri =
        authority == null || authority.isEmpty()
            ? URI.create(scheme + ":///")
            : URI.create(scheme + "://" + authority);
    workingDir = new Path("/").makeQualified(uri, null);
    owner = UserGroupInformation.getCurrentUser().getShortUserName();
    readBufferSize = intSize(conf, READ_BUFFER_SIZE, DEFAULT_READ_BUFFER_SIZE);
    writeBufferSize = intSize(conf, WRITE_BUFFER_SIZE, DEFAULT_WRITE_BUFFER_SIZE);
    blockSize = Sizes.get(conf, BLOCK_SIZE, DEFAULT_BLOCK_SIZE, 1, Long.MAX_VALUE);
    listBatch = conf.getInt(LIST_BATCH, DEFAULT_LIST_BATCH);
    if (listBatch < 1 || listBatch > 1 << 20) {
      throw new IllegalArgumentException(
          LIST_BATCH
              + " must be a whole number between 1 and 1048576, not "
              + conf.get(LIST_BATCH));
    }
    nativeFs = NativeFs.open(nativeConfig(conf));
    storageStatistics = new ShoalStorageStatistics(ShoalStorageStatistics.NAME, this::counters);
    GlobalStorageStatistics.INSTANCE.put(
        ShoalStorageStatistics.NAME,
        () -> new ShoalStorageStatistics(ShoalStorageStatistics.NAME, NativeMethods::processStats));
  }

  /** This filesystem's native counters now; after close, as they were at close. */
  long[] counters() {
    long[] done = closedStats;
    if (done != null) {
      return done;
    }
    NativeFs f = nativeFs;
    if (f == null) {
      return new long[0];
    }
    try {
      return f.stats();
    } catch (IOException closed) {
      done = closedStats;
      return done != null ? done : new long[0];
    }
  }

  /**
   * What the native core reads of a configuration: the {@code shoal.*} pairs and Hadoop S3A's
   * {@code fs.s3a.*} pairs (which S3 mounts take their credentials, endpoint and region from),
   * values with variables substituted. S3A's secrets ({@code fs.s3a.access.key}, {@code
   * secret.key}, {@code session.token}, also per bucket) are read with {@link
   * Configuration#getPassword}, so that they may live in a Hadoop credential provider as S3A
   * allows. The map holds secrets: never log it.
   */
  public static Map<String, String> nativeConfig(Configuration conf) throws IOException {
    Map<String, String> pairs = new TreeMap<>();
    for (Map.Entry<String, String> e : conf) {
      String key = e.getKey();
      if (key.startsWith(CONFIG_PREFIX) || key.startsWith(S3A_PREFIX)) {
        String value = conf.get(key);
        if (value != null) {
          pairs.put(key, value);
        }
      }
    }
    // Secrets in a credential provider need not be in the configuration at all: look up the base
    // keys and the per-bucket keys of every S3 mount's bucket.
    List<String> secretKeys = new ArrayList<>();
    for (String suffix : S3A_SECRETS) {
      secretKeys.add(S3A_PREFIX + suffix);
    }
    for (Map.Entry<String, String> e : new TreeMap<>(pairs).entrySet()) {
      String key = e.getKey();
      if (key.startsWith(MOUNT_PREFIX) && key.endsWith(".uri")) {
        String bucket = s3Bucket(e.getValue());
        if (bucket != null) {
          for (String suffix : S3A_SECRETS) {
            secretKeys.add(S3A_PREFIX + "bucket." + bucket + "." + suffix);
          }
        }
      }
    }
    for (String key : secretKeys) {
      char[] secret = conf.getPassword(key);
      if (secret != null) {
        pairs.put(key, new String(secret));
      }
    }
    return pairs;
  }

  /** The bucket of an {@code s3://} or {@code s3a://} URI; null for other URIs. */
  private static String s3Bucket(String uri) {
    try {
      URI u = new URI(uri.trim());
      String scheme = u.getScheme() == null ? "" : u.getScheme().toLowerCase(Locale.ROOT);
      boolean s3 = scheme.equals("s3") || scheme.equals("s3a");
      return s3 && u.getAuthority() != null ? u.getAuthority() : null;
    } catch (URISyntaxException e) {
      return null; // the native core reports it, naming the key
    }
  }

  /** A buffer size: 1 byte up to what a Java array holds (the native key table agrees). */
  private static int intSize(Configuration conf, String key, long dflt) {
    return (int) Sizes.get(conf, key, dflt, 1, Integer.MAX_VALUE - 64);
  }

  private NativeFs fs() throws IOException {
    NativeFs f = nativeFs;
    if (f == null) {
      throw new IOException("filesystem not initialized");
    }
    return f;
  }

  /** The Shoal path a Hadoop path names: its path part, absolute, after Hadoop's checks. */
  String shoalPath(Path path) {
    String p = makeQualified(path).toUri().getPath();
    return p == null || p.isEmpty() ? "/" : p;
  }

  private Path qualify(String shoalPath) {
    return new Path(
        uri.getScheme(), uri.getAuthority() == null ? "" : uri.getAuthority(), shoalPath);
  }

  private ShoalFileStatus toStatus(NativeFileInfo info, Path path) {
    return HadoopFeatures.fileStatus(
        new ShoalFileStatus(
            info.length,
            info.directory,
            blockSize,
            info.modificationTime,
            path,
            owner,
            info.etag,
            info.version));
  }

  @Override
  public URI getUri() {
    return uri;
  }

  @Override
  public Path getWorkingDirectory() {
    return workingDir;
  }

  @Override
  public void setWorkingDirectory(Path dir) {
    workingDir = makeQualified(dir);
  }

  @Override
  public String getCanonicalServiceName() {
    // No delegation tokens: credentials come from configuration on every node.
    return null;
  }

  @Override
  @SuppressWarnings("deprecation")
  public long getDefaultBlockSize() {
    return blockSize;
  }

  @Override
  public long getDefaultBlockSize(Path f) {
    return blockSize;
  }

  @Override
  @SuppressWarnings("deprecation")
  public short getDefaultReplication() {
    return 1;
  }

  @Override
  public short getDefaultReplication(Path path) {
    return 1;
  }

  @Override
  public ShoalFileStatus getFileStatus(Path f) throws IOException {
    statistics.incrementReadOps(1);
    Path qualified = makeQualified(f);
    return toStatus(fs().status(shoalPath(qualified)), qualified);
  }

  /**
   * The whole listing as one array (Hadoop's contract); {@link #listStatusIterator} hands the same
   * entries over in batches, for directories too large to hold at once.
   */
  @Override
  public FileStatus[] listStatus(Path f) throws IOException {
    statistics.incrementReadOps(1);
    NativeFileInfo[] infos = fs().list(shoalPath(f));
    FileStatus[] out = new FileStatus[infos.length];
    for (int i = 0; i < infos.length; i++) {
      out[i] = toStatus(infos[i], qualify(infos[i].path));
    }
    return out;
  }

  /**
   * Where each block of a file should be read: the host that owns it by consistent hashing over the
   * live executor hosts (reported by the Spark plugin, {@code io.shoal.spark.ShoalPlugin}) or else
   * over {@code shoal.cluster.hosts}, so that Spark schedules the task reading it where its pages
   * are cached. Blocks are {@code file.getBlockSize()} long ({@value #BLOCK_SIZE}); a file's first
   * block is placed by its path, so a small file has one owner. With no host known, Hadoop's
   * default (one block on {@code localhost}, which Spark ignores) is kept.
   */
  @Override
  public BlockLocation[] getFileBlockLocations(FileStatus file, long start, long len)
      throws IOException {
    if (file == null) {
      return null;
    }
    if (start < 0 || len < 0) {
      throw new IllegalArgumentException("invalid start or len: " + start + ", " + len);
    }
    long length = file.getLen();
    if (length <= start || !file.isFile()) {
      return new BlockLocation[0];
    }
    long block = file.getBlockSize() > 0 ? file.getBlockSize() : blockSize;
    String[] owners = fs().blockOwners(shoalPath(file.getPath()), length, block);
    if (owners.length == 0) {
      return super.getFileBlockLocations(file, start, len);
    }
    // The blocks overlapping [start, start + len); for len == 0, the block holding start.
    long end = Math.max(len > length - start ? length : start + len, start + 1);
    List<BlockLocation> out = new ArrayList<>();
    for (int i = 0; i < owners.length; i++) {
      long offset = i * block;
      long size = Math.min(block, length - offset);
      if (offset < end && offset + size > start) {
        String host = owners[i];
        out.add(
            new BlockLocation(new String[] {host + ":9866"}, new String[] {host}, offset, size));
      }
    }
    return out.toArray(new BlockLocation[0]);
  }

  /**
   * The entries of a directory (or the file itself), fetched from native code {@value
   * #DEFAULT_LIST_BATCH} at a time ({@code shoal.list.batch}) as the store's listing pages: mount
   * points first, then the store's entries in its order (S3: key order). A missing path throws
   * {@link FileNotFoundException} here; a store failing later throws from {@code hasNext}.
   */
  @Override
  public RemoteIterator<FileStatus> listStatusIterator(Path f) throws IOException {
    statistics.incrementReadOps(1);
    return this.<FileStatus>listing(f, false, info -> toStatus(info, qualify(info.path)));
  }

  /**
   * As Hadoop's, but each status keeps its ETag ({@link ShoalLocatedFileStatus}), and it pages as
   * {@link #listStatusIterator} does.
   */
  @Override
  protected RemoteIterator<LocatedFileStatus> listLocatedStatus(Path f, PathFilter filter)
      throws IOException {
    statistics.incrementReadOps(1);
    return this.<LocatedFileStatus>listing(
        f,
        false,
        info -> {
          Path p = qualify(info.path);
          return filter.accept(p) ? located(toStatus(info, p)) : null;
        });
  }

  private LocatedFileStatus located(ShoalFileStatus st) throws IOException {
    BlockLocation[] locations = st.isFile() ? getFileBlockLocations(st, 0, st.getLen()) : null;
    return HadoopFeatures.locatedStatus(st, locations);
  }

  private <T> ShoalListing<T> listing(Path f, boolean recursive, ShoalListing.Entry<T> entry)
      throws IOException {
    return new ShoalListing<>(fs().openListing(shoalPath(f), recursive), listBatch, f, entry);
  }

  /**
   * Every file under {@code f}, with its block locations as {@link #listLocatedStatus} gives them.
   * Recursive, this is one flat listing of the store per mount involved (S3: {@code ListObjectsV2}
   * without a delimiter), not Hadoop's walk that lists every directory, and it streams: files are
   * fetched from native code in batches as the store pages, in each store's order (S3: key order),
   * one mount after the other. A file lists itself; a missing path throws {@link
   * FileNotFoundException}. Block locations are computed as the iterator reaches each file.
   */
  @Override
  public RemoteIterator<LocatedFileStatus> listFiles(Path f, boolean recursive) throws IOException {
    if (!recursive) {
      return super.listFiles(f, false);
    }
    statistics.incrementReadOps(1);
    return this.<LocatedFileStatus>listing(
        f, true, info -> located(toStatus(info, qualify(info.path))));
  }

  @Override
  public FSDataInputStream open(Path f, int bufferSize) throws IOException {
    statistics.incrementReadOps(1);
    // One native call: the status (a directory is a FileNotFoundException) and the reader.
    return open(f, shoalPath(f), -1, null, null);
  }

  private FSDataInputStream open(Path f, String path, long length, String etag, String version)
      throws IOException {
    NativeReader reader = fs().openReader(path, length, etag, version);
    return new FSDataInputStream(HadoopFeatures.inputStream(reader, readBufferSize, statistics, f));
  }

  /**
   * Opens {@code f} for {@code openFile()} ({@code ShoalFileSystem33}): with a status this
   * filesystem returned for the same path ({@code withFileStatus}), without a metadata request.
   * Other statuses, and {@code fs.option.openfile.length}, are not trusted: the native metadata
   * cache makes the lookup cheap, and a wrong length would misread the file.
   */
  FSDataInputStream openWithStatus(Path f, FileStatus st, int bufferSize) throws IOException {
    String version = null;
    String etag = null;
    if (st instanceof ShoalFileStatus) {
      version = ((ShoalFileStatus) st).getVersion();
      etag = ((ShoalFileStatus) st).getEtag();
    } else if (st instanceof ShoalLocatedFileStatus) {
      version = ((ShoalLocatedFileStatus) st).getVersion();
      etag = ((ShoalLocatedFileStatus) st).getEtag();
    }
    if (version != null && st.isFile()) {
      String path = shoalPath(f);
      // A status of another file (or of another Shoal filesystem) is only a hint to ignore.
      if (path.equals(st.getPath().toUri().getPath())) {
        statistics.incrementReadOps(1);
        return open(f, path, st.getLen(), etag, version);
      }
    }
    return open(f, bufferSize);
  }

  @Override
  public FSDataOutputStream create(
      Path f,
      FsPermission permission,
      boolean overwrite,
      int bufferSize,
      short replication,
      long blockSize,
      Progressable progress)
      throws IOException {
    statistics.incrementWriteOps(1);
    NativeWriter writer = fs().openWriter(shoalPath(f), overwrite);
    return new FSDataOutputStream(new ShoalOutputStream(writer, writeBufferSize, f), statistics);
  }

  @Override
  public FSDataOutputStream createNonRecursive(
      Path f,
      FsPermission permission,
      EnumSet<CreateFlag> flags,
      int bufferSize,
      short replication,
      long blockSize,
      Progressable progress)
      throws IOException {
    Path parent = makeQualified(f).getParent();
    if (parent != null) {
      FileStatus ps = getFileStatus(parent);
      if (!ps.isDirectory()) {
        throw new ParentNotDirectoryException("parent of " + f + " is a file: " + parent);
      }
    }
    boolean overwrite = flags != null && flags.contains(CreateFlag.OVERWRITE);
    return create(f, permission, overwrite, bufferSize, replication, blockSize, progress);
  }

  /** Always throws UnsupportedOperationException: Shoal mounts do not append. */
  @Override
  public FSDataOutputStream append(Path f, int bufferSize, Progressable progress) {
    throw new UnsupportedOperationException("append is not supported by Shoal mounts");
  }

  @Override
  public boolean rename(Path src, Path dst) throws IOException {
    statistics.incrementWriteOps(1);
    return fs().rename(shoalPath(src), shoalPath(dst));
  }

  @Override
  public boolean delete(Path f, boolean recursive) throws IOException {
    statistics.incrementWriteOps(1);
    return fs().delete(shoalPath(f), recursive);
  }

  @Override
  public boolean mkdirs(Path f, FsPermission permission) throws IOException {
    statistics.incrementWriteOps(1);
    return fs().mkdirs(shoalPath(f));
  }

  /**
   * Hadoop's {@code PathCapabilities} (which Hadoop has from 3.2.2 and 3.3.0; on older releases
   * this is a method of this class only). {@code fs.capability.etags.available} is true where the
   * store's listings and status requests give the same ETag; appends, concat, truncate, symlinks
   * and ETags preserved in a rename are not supported, and nor is any other capability.
   */
  public boolean hasPathCapability(Path path, String capability) throws IOException {
    if (path == null || capability == null) {
      throw new IllegalArgumentException("null path or capability");
    }
    makeQualified(path);
    switch (capability.toLowerCase(Locale.ROOT)) {
      case FS_APPEND:
      case FS_CONCAT:
      case FS_TRUNCATE:
        return false;
      case ETAGS_AVAILABLE:
        // Where the store's listings and status requests give the same ETag (S3, GCS, Azure).
        return fs().etagsAvailable(shoalPath(path));
      case ETAGS_PRESERVED_IN_RENAME:
        // Rename in an object store is a copy, which may give the object a new ETag.
        return false;
      default:
        // As Hadoop's default: symlinks only where supported (never here), nothing else.
        return false;
    }
  }

  /**
   * Closes this filesystem (Hadoop's close: delete-on-exit paths are deleted, the instance leaves
   * the cache) and frees the native one, exactly once; later calls do nothing.
   */
  @Override
  public void close() throws IOException {
    synchronized (this) {
      if (closing) {
        return;
      }
      closing = true;
    }
    try {
      super.close();
    } finally {
      NativeFs f = nativeFs;
      if (f != null) {
        try {
          closedStats = f.stats();
        } catch (IOException | RuntimeException e) {
          LOG.debug("no statistics for {} at close", redacted(uri), e);
        }
        f.close();
        if (closedStats != null && LOG.isInfoEnabled()) {
          LOG.info(closeSummary(uri, NativeFs.counterNames(), closedStats));
        }
      }
    }
  }

  /**
   * The line {@link #close()} logs: hits, misses, hit ratio, bytes from the cache and from the
   * store, store requests, evictions and corrupt pages.
   */
  static String closeSummary(URI uri, String[] names, long[] values) {
    Map<String, Long> c = new TreeMap<>();
    for (int i = 0; i < Math.min(names.length, values.length); i++) {
      c.put(names[i], values[i]);
    }
    long hits = get(c, "cache_hits");
    long misses = get(c, "cache_misses");
    long memory = get(c, "bytes_from_memory");
    long disk = get(c, "bytes_from_disk");
    String ratio =
        hits + misses == 0
            ? "n/a"
            : String.format(Locale.ROOT, "%.1f%%", 100.0 * hits / (hits + misses));
    return String.format(
        Locale.ROOT,
        "Shoal %s closed: %d cache hits, %d misses (hit ratio %s); %s from the cache"
            + " (memory %s, disk %s), %s from the store; store requests: %d GET, %d metadata;"
            + " %d evictions, %d corrupt pages",
        redacted(uri),
        hits,
        misses,
        ratio,
        Sizes.human(memory + disk),
        Sizes.human(memory),
        Sizes.human(disk),
        Sizes.human(get(c, "bytes_from_store")),
        get(c, "store_get_requests"),
        get(c, "store_metadata_requests"),
        get(c, "evictions"),
        get(c, "corrupt_pages"));
  }

  private static long get(Map<String, Long> counters, String name) {
    Long v = counters.get(name);
    return v == null ? 0 : v;
  }

  /**
   * Shoal's counters for this filesystem and every stream it opened, read live from native code
   * (after close, the values at close). The process-wide counters are in {@link
   * GlobalStorageStatistics} under {@value ShoalStorageStatistics#NAME}.
   */
  @Override
  public StorageStatistics getStorageStatistics() {
    return storageStatistics;
  }

  /** Names the filesystem by its URI, without any user info the URI was given with. */
  @Override
  public String toString() {
    return getClass().getSimpleName() + "{uri=" + redacted(uri) + "}";
  }

  /** {@code uri} without user info, which may hold a secret. */
  static String redacted(URI uri) {
    if (uri == null || uri.getRawUserInfo() == null) {
      return String.valueOf(uri);
    }
    try {
      return new URI(uri.getScheme(), null, uri.getHost(), uri.getPort(), uri.getPath(), null, null)
          .toString();
    } catch (URISyntaxException e) {
      return uri.getScheme() + "://***";
    }
  }
}
