package io.shoal.hadoop;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.IntSupplier;

/**
 * A TCP proxy on 127.0.0.1 in front of a test server (as the native testkit's {@code
 * CountingProxy}) that counts object GETs (a GET without a query: listings have one) and how many
 * were in flight at once (sent and not yet answered), as the server sees them. With {@link #gate},
 * every object GET is held until that many are in flight (or a time has passed), so that overlap is
 * proven by a count, not by timing; with {@link #holdAfter}, the GETs after the first n wait until
 * the test lets them go.
 */
public final class CountingProxy implements AutoCloseable {
  private final ServerSocket listener;
  private final int upstream;
  private final Object lock = new Object();
  private final List<Socket> sockets = new ArrayList<>();
  private int inFlight;
  private int peak;
  private int gets;
  private int lists;
  private int gate;
  private long gateMillis;
  private int holdAfter = -1;
  private volatile boolean closed;

  /** Listens on a free port of 127.0.0.1 and forwards every connection to {@code upstreamPort}. */
  public CountingProxy(int upstreamPort) throws IOException {
    upstream = upstreamPort;
    listener = new ServerSocket(0, 128, InetAddress.getLoopbackAddress());
    Thread t = new Thread(this::accept, "counting-proxy");
    t.setDaemon(true);
    t.start();
  }

  /** {@code http://127.0.0.1:<port>}: the endpoint to give clients instead of the server's. */
  public String endpoint() {
    return "http://127.0.0.1:" + listener.getLocalPort();
  }

  /** Holds each object GET until {@code n} are in flight, for at most {@code millis}. */
  public void gate(int n, long millis) {
    synchronized (lock) {
      gate = n;
      gateMillis = millis;
      lock.notifyAll();
    }
  }

  /**
   * Holds every object GET after the first {@code n} (counted from the last {@link #reset}) until
   * {@link #release} (or 60 s); a negative {@code n} holds none.
   */
  public void holdAfter(int n) {
    synchronized (lock) {
      holdAfter = n;
    }
  }

  /** Lets the GETs {@link #holdAfter} holds go, and holds no more. */
  public void release() {
    synchronized (lock) {
      holdAfter = -1;
      lock.notifyAll();
    }
  }

  /** The most object GETs in flight at once so far. */
  public int peakGetsInFlight() {
    return locked(() -> peak);
  }

  /** Object GETs in flight now (held by the gate or not yet answered). */
  public int getsInFlight() {
    return locked(() -> inFlight);
  }

  /** Object GETs seen so far. */
  public int gets() {
    return locked(() -> gets);
  }

  /** Listing requests (ListObjectsV2 pages) seen so far. */
  public int lists() {
    return locked(() -> lists);
  }

  /** A count, read under the lock. */
  private int locked(IntSupplier count) {
    synchronized (lock) {
      return count.getAsInt();
    }
  }

  /** Forgets the counts (not the gate). */
  public void reset() {
    synchronized (lock) {
      peak = inFlight;
      gets = 0;
      lists = 0;
    }
  }

  private void accept() {
    while (!closed) {
      try {
        Socket client = listener.accept();
        Socket server = new Socket(InetAddress.getLoopbackAddress(), upstream);
        synchronized (sockets) {
          sockets.add(client);
          sockets.add(server);
        }
        boolean[] waiting = {false};
        start(() -> requests(client, server, waiting));
        start(() -> responses(server, client, waiting));
      } catch (IOException e) {
        if (closed) {
          return;
        }
      }
    }
  }

  private static void start(Runnable r) {
    Thread t = new Thread(r, "counting-proxy-relay");
    t.setDaemon(true);
    t.start();
  }

  /** Client to server: request heads parsed (one request at a time), bodies passed through. */
  private void requests(Socket client, Socket server, boolean[] waiting) {
    try (InputStream in = client.getInputStream();
        OutputStream out = server.getOutputStream()) {
      while (true) {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        String line;
        String first = null;
        long body = 0;
        while ((line = readLine(in, head)) != null && !line.isEmpty()) {
          if (first == null) {
            first = line;
          } else if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
            body = Long.parseLong(line.substring(15).trim());
          }
        }
        if (line == null) {
          return;
        }
        String[] parts = first == null ? new String[0] : first.split(" ");
        if (parts.length > 1 && parts[0].equals("GET") && !parts[1].contains("?")) {
          admit(waiting);
        } else if (parts.length > 1 && parts[0].equals("GET") && parts[1].contains("list-type")) {
          synchronized (lock) {
            lists++;
          }
        }
        out.write(head.toByteArray());
        copy(in, out, body);
        out.flush();
      }
    } catch (IOException | InterruptedException e) {
      // The connection ended.
    } finally {
      answered(waiting);
    }
  }

  private void admit(boolean[] waiting) throws InterruptedException {
    synchronized (lock) {
      inFlight++;
      gets++;
      waiting[0] = true;
      peak = Math.max(peak, inFlight);
      lock.notifyAll();
      int seq = gets;
      long deadline = System.currentTimeMillis() + gateMillis;
      while (inFlight < gate && !closed) {
        long left = deadline - System.currentTimeMillis();
        if (left <= 0) {
          break;
        }
        lock.wait(left);
      }
      deadline = System.currentTimeMillis() + 60_000;
      while (holdAfter >= 0 && seq > holdAfter && !closed) {
        long left = deadline - System.currentTimeMillis();
        if (left <= 0) {
          break;
        }
        lock.wait(left);
      }
    }
  }

  private void answered(boolean[] waiting) {
    synchronized (lock) {
      if (waiting[0]) {
        waiting[0] = false;
        inFlight--;
      }
    }
  }

  /** Server to client, as is; the first bytes after a GET answer it. */
  private void responses(Socket server, Socket client, boolean[] waiting) {
    byte[] buf = new byte[64 << 10];
    try (InputStream in = server.getInputStream();
        OutputStream out = client.getOutputStream()) {
      int n;
      while ((n = in.read(buf)) > 0) {
        answered(waiting);
        out.write(buf, 0, n);
        out.flush();
      }
    } catch (IOException e) {
      // The connection ended.
    } finally {
      answered(waiting);
      closeQuietly(client);
      closeQuietly(server);
    }
  }

  private static String readLine(InputStream in, ByteArrayOutputStream head) throws IOException {
    StringBuilder b = new StringBuilder();
    int c;
    while ((c = in.read()) >= 0) {
      head.write(c);
      if (c == '\n') {
        int len = b.length();
        return len > 0 && b.charAt(len - 1) == '\r' ? b.substring(0, len - 1) : b.toString();
      }
      b.append((char) c);
    }
    return null;
  }

  private static void copy(InputStream in, OutputStream out, long n) throws IOException {
    byte[] buf = new byte[64 << 10];
    while (n > 0) {
      int r = in.read(buf, 0, (int) Math.min(buf.length, n));
      if (r < 0) {
        throw new IOException("request body ended early");
      }
      out.write(buf, 0, r);
      n -= r;
    }
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException e) {
      // Closing anyway.
    }
  }

  @Override
  public void close() {
    closed = true;
    synchronized (lock) {
      lock.notifyAll();
    }
    try {
      listener.close();
    } catch (IOException e) {
      // Closing anyway.
    }
    synchronized (sockets) {
      for (Socket s : sockets) {
        closeQuietly(s);
      }
    }
  }
}
