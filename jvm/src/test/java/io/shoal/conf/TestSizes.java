package io.shoal.conf;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.junit.Test;

/**
 * The JVM side's size grammar against the cases of {@code tests/vectors/sizes.txt}, which the
 * native core's {@code native/core/tests/size_vectors.rs} reads too.
 */
public class TestSizes {
  /** The one-letter escapes of the vector file (after a backslash), and what each stands for. */
  private static final String ESCAPES = "stnrf0\\";

  private static final String ESCAPED = " \t\n\r\f\0\\";

  /** Undoes the escapes of the vector file: those above, and {@code u{hex}} for a code point. */
  static String unescape(String text) {
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c != '\\') {
        out.append(c);
        continue;
      }
      char e = text.charAt(++i);
      int simple = ESCAPES.indexOf(e);
      if (simple >= 0) {
        out.append(ESCAPED.charAt(simple));
      } else if (e == 'u') {
        int close = text.indexOf('}', i);
        out.appendCodePoint(Integer.parseInt(text.substring(i + 2, close), 16));
        i = close;
      } else {
        throw new IllegalArgumentException("bad escape in " + text);
      }
    }
    return out.toString();
  }

  @Test
  public void sizesMatchTheSharedVectors() throws IOException {
    String dir = System.getProperty("shoal.test.vectors", "tests/vectors");
    Path file = Paths.get(dir, "sizes.txt");
    List<String> wrong = new ArrayList<>();
    int cases = 0;
    for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      int tab = line.lastIndexOf('\t');
      String input = unescape(line.substring(0, tab));
      String expected = line.substring(tab + 1);
      String got;
      try {
        got = Long.toString(Sizes.parse(input));
      } catch (IllegalArgumentException e) {
        got = "error";
      }
      if (!got.equals(expected)) {
        wrong.add("'" + input + "': expected " + expected + ", got " + got);
      }
      cases++;
    }
    assertTrue("only " + cases + " cases in " + file, cases > 50);
    assertTrue(String.join("\n", wrong), wrong.isEmpty());
  }

  @Test
  public void byteCountsForPeopleAreOneFormat() {
    assertEquals("0 B", Sizes.human(0));
    assertEquals("1023 B", Sizes.human(1023));
    assertEquals("1.0 KiB", Sizes.human(1024));
    assertEquals("1.5 GiB", Sizes.human(1.5 * (1 << 30)));
    assertEquals("12.3 MiB", Sizes.human(12.34 * (1 << 20)));
    assertEquals("8.0 PiB", Sizes.human(Long.MAX_VALUE / 1024));
    assertEquals("8192.0 PiB", Sizes.human(Long.MAX_VALUE));
  }

  @Test
  public void keysAreReadWithTheirRangeAndNamedInErrors() {
    Configuration conf = new Configuration(false);
    assertEquals(7, Sizes.get(conf, "shoal.x", 7, 1, 100));
    conf.set("shoal.x", "  ");
    assertEquals(7, Sizes.get(conf, "shoal.x", 7, 1, 100));
    conf.set("shoal.x", " 1.5k ");
    assertEquals(1536, Sizes.get(conf, "shoal.x", 7, 1, 1 << 20));
    conf.set("shoal.x", "1.5x");
    try {
      Sizes.get(conf, "shoal.x", 7, 1, 100);
      fail();
    } catch (IllegalArgumentException e) {
      assertTrue(e.getMessage(), e.getMessage().startsWith("shoal.x: '1.5x' is not a size"));
    }
    conf.set("shoal.x", "1g");
    try {
      Sizes.get(conf, "shoal.x", 7, 1, 1 << 20);
      fail();
    } catch (IllegalArgumentException e) {
      assertEquals("shoal.x must be between 1 and 1m, not '1g'", e.getMessage());
    }
  }
}
