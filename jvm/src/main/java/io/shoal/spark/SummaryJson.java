package io.shoal.spark;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.util.MinimalPrettyPrinter;
import com.fasterxml.jackson.databind.JsonSerializer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.module.SimpleModule;
import java.io.IOException;
import java.util.Map;

/**
 * The JSON of the summaries ({@code ShoalTool ... --json}, {@code python/shoal_spark.py}), written
 * by Jackson: every Spark the jar runs on (3.1 to 4.x) has it on its class path, so the jar is
 * compiled against it and carries no copy. On one line, as {@code {"key": value, "list": [1, 2]}};
 * a number that is not finite is {@code null}.
 */
final class SummaryJson {
  private static final ObjectWriter WRITER =
      new ObjectMapper()
          .registerModule(new SimpleModule().addSerializer(Double.class, new FiniteDoubles()))
          .writer(new Spaced());

  private SummaryJson() {}

  /** {@code m} (strings, numbers, booleans, maps with string keys, lists) as JSON. */
  static String of(Map<String, ?> m) {
    try {
      return WRITER.writeValueAsString(m);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot write a summary as JSON", e);
    }
  }

  /** Jackson's compact output with a space after each colon and comma. */
  private static final class Spaced extends MinimalPrettyPrinter {
    @Override
    public void writeObjectFieldValueSeparator(JsonGenerator g) throws IOException {
      g.writeRaw(": ");
    }

    @Override
    public void writeObjectEntrySeparator(JsonGenerator g) throws IOException {
      g.writeRaw(", ");
    }

    @Override
    public void writeArrayValueSeparator(JsonGenerator g) throws IOException {
      g.writeRaw(", ");
    }
  }

  /** NaN and the infinities, which JSON has no number for, as {@code null}. */
  private static final class FiniteDoubles extends JsonSerializer<Double> {
    @Override
    public void serialize(Double d, JsonGenerator g, SerializerProvider p) throws IOException {
      if (d.isNaN() || d.isInfinite()) {
        g.writeNull();
      } else {
        g.writeNumber(d);
      }
    }
  }
}
