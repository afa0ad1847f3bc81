package io.tailsafe.storm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.storm.task.TopologyContext;
import org.apache.storm.tuple.TupleImpl;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RawLineFormatTest {
  @TempDir Path dir;

  private String encode(RawLineFormat f, Object host) {
    TopologyContext ctx = Fixtures.context(Fixtures.conf("t"), "count", 7, dir);
    return new String(f.encode(new TupleImpl(ctx, new ArrayList<>(java.util.Arrays.asList(host, 1L)), "spout", 3, "default")),
        StandardCharsets.UTF_8);
  }

  @Test
  void a_log_line_is_written_as_it_is() {
    String line = "example.com 10.0.0.1 - - [05/Dec/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"curl\"";
    assertEquals(line + "\n", encode(new RawLineFormat(), line));
    assertEquals(line + "\n", encode(new RawLineFormat("host"), line + "\r\n"));
  }

  @Test
  void an_inner_newline_becomes_a_space_and_is_counted() {
    RawLineFormat f = new RawLineFormat();
    assertEquals("a b c\n", encode(f, "a\nb\rc"));
    assertEquals(1, f.rewritten());
  }

  @Test
  void a_field_that_is_not_a_string_is_refused_by_name() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> encode(new RawLineFormat("host"), 5L));
    assertTrue(e.getMessage().contains("field 'host'") && e.getMessage().contains("java.lang.Long"), e.getMessage());
  }

  @Test
  void decoding_gives_the_line_to_the_first_input_stream() {
    TupleFormat.Decoded d = new RawLineFormat("host").decode("a line", Fixtures.INPUTS);
    assertEquals("spout", d.sourceComponent());
    assertEquals("default", d.streamId());
    assertEquals(java.util.Arrays.asList("a line", null), d.values());
    assertThrows(IllegalArgumentException.class, () -> new RawLineFormat("nope").decode("x", Fixtures.INPUTS));
    assertThrows(IllegalArgumentException.class, () -> new RawLineFormat().decode("x", List.of()));
  }
}
