package io.shoal.conf;

import java.math.BigInteger;
import java.util.Locale;
import org.apache.hadoop.conf.Configuration;

/**
 * The size grammar of every {@code shoal.*} size key, the same as the native core's ({@code
 * shoal_core::config::parse_size}); both are tested against {@code tests/vectors/sizes.txt}.
 *
 * <p>A size is a whole or decimal number ({@code 512}, {@code 1.5}) and an optional unit: {@code
 * b}, {@code k}, {@code m}, {@code g}, {@code t} or {@code p} (powers of 1024), each but {@code b}
 * optionally followed by {@code b} ({@code kb}, {@code gb}), in any case. No sign, no exponent, no
 * space inside; ASCII whitespace around the value is ignored. A fraction is rounded down to whole
 * bytes, with at most 18 digits after the point. At most {@link Long#MAX_VALUE} bytes.
 *
 * <p>Hadoop's {@code Configuration.getLongBytes} differs (it takes {@code 1e} but not {@code 1.5g}
 * or {@code 64kb}); Shoal's keys are read with this class instead, so that a value means the same
 * to the JVM side and to the native core.
 */
public final class Sizes {
  private static final BigInteger MAX = BigInteger.valueOf(Long.MAX_VALUE);

  private Sizes() {}

  /** Whether {@code c} is ASCII whitespace as both sides trim it: space, tab, LF, FF, CR. */
  static boolean isAsciiWhitespace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
  }

  /** {@code text} without the ASCII whitespace around it. */
  public static String trim(String text) {
    int start = 0;
    int end = text.length();
    while (start < end && isAsciiWhitespace(text.charAt(start))) {
      start++;
    }
    while (end > start && isAsciiWhitespace(text.charAt(end - 1))) {
      end--;
    }
    return text.substring(start, end);
  }

  /** A value for a message: quoted, with control characters escaped. */
  static String shown(String value) {
    StringBuilder b = new StringBuilder("'");
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      if (c < 0x20 || c == 0x7f) {
        b.append(String.format("\\u{%x}", (int) c));
      } else {
        b.append(c);
      }
    }
    return b.append('\'').toString();
  }

  private static boolean isDigit(char c) {
    return c >= '0' && c <= '9';
  }

  /** Parses a size; IllegalArgumentException saying what is wrong otherwise. */
  public static long parse(String text) {
    String t = trim(text);
    StringBuilder lower = new StringBuilder(t.length());
    for (int i = 0; i < t.length(); i++) {
      char c = t.charAt(i);
      lower.append(c >= 'A' && c <= 'Z' ? (char) (c + ('a' - 'A')) : c);
    }
    int at = 0;
    while (at < lower.length() && (isDigit(lower.charAt(at)) || lower.charAt(at) == '.')) {
      at++;
    }
    String num = lower.substring(0, at);
    String unit = lower.substring(at);
    int shift;
    switch (unit) {
      case "":
      case "b":
        shift = 0;
        break;
      case "k":
      case "kb":
        shift = 10;
        break;
      case "m":
      case "mb":
        shift = 20;
        break;
      case "g":
      case "gb":
        shift = 30;
        break;
      case "t":
      case "tb":
        shift = 40;
        break;
      case "p":
      case "pb":
        shift = 50;
        break;
      default:
        throw bad(text, "unknown unit");
    }
    BigInteger multiplier = BigInteger.ONE.shiftLeft(shift);
    int point = num.indexOf('.');
    String whole = point < 0 ? num : num.substring(0, point);
    String fraction = point < 0 ? null : num.substring(point + 1);
    if (whole.isEmpty() || !allDigits(whole)) {
      throw bad(text, "a number must start with a digit");
    }
    BigInteger total = new BigInteger(whole).multiply(multiplier);
    if (fraction != null) {
      if (fraction.isEmpty() || !allDigits(fraction)) {
        throw bad(text, "a decimal point must have digits after it");
      }
      if (fraction.length() > 18) {
        throw bad(text, "at most 18 digits may follow the point");
      }
      BigInteger scale = BigInteger.TEN.pow(fraction.length());
      total = total.add(new BigInteger(fraction).multiply(multiplier).divide(scale));
    }
    if (total.compareTo(MAX) > 0) {
      throw new IllegalArgumentException(
          shown(text) + " is too large (at most " + Long.MAX_VALUE + " bytes)");
    }
    return total.longValue();
  }

  private static boolean allDigits(String s) {
    for (int i = 0; i < s.length(); i++) {
      if (!isDigit(s.charAt(i))) {
        return false;
      }
    }
    return true;
  }

  private static IllegalArgumentException bad(String text, String why) {
    return new IllegalArgumentException(
        shown(text)
            + " is not a size ("
            + why
            + "; use a number with an optional unit k, m, g, t or p, powers of 1024, e.g. 512,"
            + " 64k, 1.5g, 200gb)");
  }

  /** A size as the grammar writes it: {@code 64m} when exact, else the bytes. */
  public static String format(long n) {
    String[] units = {"p", "t", "g", "m", "k"};
    int[] shifts = {50, 40, 30, 20, 10};
    for (int i = 0; i < units.length; i++) {
      long unit = 1L << shifts[i];
      if (n != 0 && n % unit == 0) {
        return (n / unit) + units[i];
      }
    }
    return Long.toString(n);
  }

  /**
   * A byte count for people, as the {@code shoal} command writes it: {@code 512 B}, {@code 3.2
   * MiB}, {@code 1.5 GiB} (powers of 1024, one decimal, up to PiB). Takes rates too ({@code 12.5
   * MiB} a second); below 1 KiB a count is shown whole.
   */
  public static String human(double n) {
    String[] units = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;
    while (Math.abs(n) >= 1024 && u < units.length - 1) {
      n /= 1024;
      u++;
    }
    return String.format(Locale.ROOT, u == 0 ? "%.0f %s" : "%.1f %s", n, units[u]);
  }

  /**
   * The size {@code key} holds, {@code dflt} when it is unset or empty; IllegalArgumentException
   * naming the key when the value is not a size or lies outside {@code [min, max]}.
   */
  public static long get(Configuration conf, String key, long dflt, long min, long max) {
    String raw = conf.get(key);
    if (raw == null || trim(raw).isEmpty()) {
      return dflt;
    }
    long v;
    try {
      v = parse(raw);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(key + ": " + e.getMessage(), e);
    }
    if (v < min || v > max) {
      throw new IllegalArgumentException(
          key
              + " must be between "
              + format(min)
              + " and "
              + format(max)
              + ", not "
              + shown(trim(raw)));
    }
    return v;
  }
}
