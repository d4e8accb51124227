package io.shoal.spark;

import java.util.Collection;
import java.util.Map;

/** Just enough JSON writing for the summaries (the jar brings no JSON library). */
final class Json {
  private Json() {}

  static String quote(String s) {
    if (s == null) {
      return "null";
    }
    StringBuilder b = new StringBuilder(s.length() + 2).append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"':
          b.append("\\\"");
          break;
        case '\\':
          b.append("\\\\");
          break;
        case '\n':
          b.append("\\n");
          break;
        case '\r':
          b.append("\\r");
          break;
        case '\t':
          b.append("\\t");
          break;
        default:
          if (c < 0x20) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
      }
    }
    return b.append('"').toString();
  }

  /** A value: null, String, Number, Boolean, Map (string keys), Collection, or raw JSON. */
  static String value(Object v) {
    if (v == null) {
      return "null";
    }
    if (v instanceof Raw) {
      return ((Raw) v).json;
    }
    if (v instanceof String) {
      return quote((String) v);
    }
    if (v instanceof Double || v instanceof Float) {
      double d = ((Number) v).doubleValue();
      return Double.isFinite(d) ? Double.toString(d) : "null";
    }
    if (v instanceof Number || v instanceof Boolean) {
      return v.toString();
    }
    if (v instanceof Map) {
      StringBuilder b = new StringBuilder("{");
      for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
        if (b.length() > 1) {
          b.append(", ");
        }
        b.append(quote(String.valueOf(e.getKey()))).append(": ").append(value(e.getValue()));
      }
      return b.append('}').toString();
    }
    if (v instanceof Collection) {
      StringBuilder b = new StringBuilder("[");
      for (Object o : (Collection<?>) v) {
        if (b.length() > 1) {
          b.append(", ");
        }
        b.append(value(o));
      }
      return b.append(']').toString();
    }
    return quote(v.toString());
  }

  /** JSON text inserted as it is. */
  static final class Raw {
    final String json;

    Raw(String json) {
      this.json = json;
    }
  }

  /** {@code 1.5 GiB}-style byte counts. */
  static String bytes(double n) {
    String[] units = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;
    while (Math.abs(n) >= 1024 && u < units.length - 1) {
      n /= 1024;
      u++;
    }
    return u == 0 ? String.format("%.0f %s", n, units[u]) : String.format("%.1f %s", n, units[u]);
  }
}
