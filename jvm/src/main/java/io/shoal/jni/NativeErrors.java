package io.shoal.jni;

import java.io.EOFException;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.net.SocketTimeoutException;
import java.nio.file.AccessDeniedException;
import org.apache.hadoop.fs.FileAlreadyExistsException;
import org.apache.hadoop.fs.ParentNotDirectoryException;
import org.apache.hadoop.fs.PathIsNotEmptyDirectoryException;

/**
 * The one place where a native error kind becomes the Java exception Hadoop callers catch
 * (DESIGN.md point 6). The native bridge calls {@link #create} and throws what it returns; the kind
 * codes must match {@code ErrorKind::code()} in {@code native/core/src/error.rs}.
 */
public final class NativeErrors {
  public static final int OTHER = 0;
  public static final int NOT_FOUND = 1;
  public static final int ALREADY_EXISTS = 2;
  public static final int NOT_A_DIRECTORY = 3;
  public static final int IS_A_DIRECTORY = 4;
  public static final int NOT_EMPTY = 5;
  public static final int READ_ONLY = 6;
  public static final int PERMISSION_DENIED = 7;
  public static final int PAST_EOF = 8;
  public static final int UNSUPPORTED = 9;
  public static final int INVALID_ARGUMENT = 10;
  public static final int PANIC = 11;
  public static final int TIMED_OUT = 12;
  public static final int CORRUPT = 13;
  public static final int CONFIG = 14;

  private NativeErrors() {}

  /** Called from native code on a Java thread; never throws itself. */
  public static Throwable create(int kind, String message) {
    switch (kind) {
      case NOT_FOUND:
        return new FileNotFoundException(message);
      case ALREADY_EXISTS:
        return new FileAlreadyExistsException(message);
      case NOT_A_DIRECTORY:
        return new ParentNotDirectoryException(message);
      case IS_A_DIRECTORY:
        // Hadoop's local and S3A filesystems report "open a directory" this way.
        return new FileNotFoundException(message);
      case NOT_EMPTY:
        return new PathIsNotEmptyDirectoryException(message);
      case READ_ONLY:
      case PERMISSION_DENIED:
        return new AccessDeniedException(message);
      case PAST_EOF:
        return new EOFException(message);
      case UNSUPPORTED:
        return new UnsupportedOperationException(message);
      case INVALID_ARGUMENT:
      case CONFIG:
        return new IllegalArgumentException(message);
      case TIMED_OUT:
        // What Hadoop's clients throw for a store that does not answer (an
        // InterruptedIOException, as before); Hadoop's retry policies know it.
        return new SocketTimeoutException(message);
      case PANIC:
        return new IOException("Shoal native code panicked: " + message);
      default:
        return new IOException(message);
    }
  }
}
