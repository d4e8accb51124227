package io.shoal.hadoop;

import static org.junit.Assert.fail;

import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;

/**
 * A server program the tests run on 127.0.0.1 and a free port, its output kept in a log file whose
 * tail explains a failed start. Shared by {@link S3Server} and {@link MotoServer}.
 */
final class ServerProcess {
  private final String name;
  private final File log;
  private Process process;
  private int port;

  ServerProcess(String name, File log) {
    this.name = name;
    this.log = log;
  }

  /**
   * The program named by the system property {@code property}; fails the test (never skips it) when
   * it is missing.
   */
  static String program(String property, String what) {
    String bin = System.getProperty(property);
    if (bin == null || bin.isEmpty() || !new File(bin).canExecute()) {
      fail(
          "the "
              + what
              + " is missing ("
              + property
              + "="
              + bin
              + "); run scripts/setup.sh to install it");
    }
    return bin;
  }

  /**
   * Starts {@code command.apply(port)} on a free port and waits up to {@code seconds} for it to
   * listen; a program that exits (its port taken in the meantime) is tried on another port, three
   * times in all.
   */
  void start(IntFunction<List<String>> command, int seconds)
      throws IOException, InterruptedException {
    IOException last = null;
    for (int attempt = 0; attempt < 3; attempt++) {
      try (ServerSocket s = new ServerSocket(0)) {
        port = s.getLocalPort();
      }
      try {
        launch(command.apply(port), seconds);
        return;
      } catch (IOException e) {
        last = e;
        stop();
      }
    }
    throw last;
  }

  private void launch(List<String> command, int seconds) throws IOException, InterruptedException {
    ProcessBuilder pb = new ProcessBuilder(command);
    pb.redirectErrorStream(true);
    pb.redirectOutput(log);
    process = pb.start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IOException(name + " exited with " + process.exitValue() + ": " + logTail());
      }
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress("127.0.0.1", port), 200);
        return;
      } catch (IOException notYet) {
        Thread.sleep(50);
      }
    }
    throw new IOException(
        name + " did not listen on port " + port + " within " + seconds + "s: " + logTail());
  }

  private String logTail() {
    try {
      List<String> lines = Files.readAllLines(log.toPath(), StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  int port() {
    return port;
  }

  /** Stops the program, forcibly after 10 seconds. */
  void stop() {
    if (process != null) {
      process.destroy();
      try {
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
          process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      process = null;
    }
  }
}
