package io.shoal.spark;

import static org.junit.Assert.assertEquals;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.Test;

/** The summaries' JSON keeps the shape the shell's and PySpark's readers were given. */
public class TestSummaryJson {
  @Test
  public void summariesAreOneLineWithSpacesAfterColonsAndCommas() {
    Map<String, Object> nested = new LinkedHashMap<>();
    nested.put("files", 2L);
    nested.put("bytes", 1536L);
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("path", "shoal:///a \"b\"\\c\n\t");
    m.put("files", 3L);
    m.put("cached_percent", 12.5);
    m.put("throughput_bytes_per_second", 0.0);
    m.put("not_a_number", Double.NaN);
    m.put("infinite", Double.POSITIVE_INFINITY);
    m.put("unreached", Arrays.asList("host-a", "host-b"));
    m.put("failures", Collections.emptyMap());
    m.put("nodes", Collections.singletonMap("host-a", nested));
    m.put("none", null);
    m.put("ok", true);
    assertEquals(
        "{\"path\": \"shoal:///a \\\"b\\\"\\\\c\\n\\t\", \"files\": 3, \"cached_percent\": 12.5,"
            + " \"throughput_bytes_per_second\": 0.0, \"not_a_number\": null, \"infinite\": null,"
            + " \"unreached\": [\"host-a\", \"host-b\"], \"failures\": {},"
            + " \"nodes\": {\"host-a\": {\"files\": 2, \"bytes\": 1536}}, \"none\": null,"
            + " \"ok\": true}",
        SummaryJson.of(m));
  }
}
