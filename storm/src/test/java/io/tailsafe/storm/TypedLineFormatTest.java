package io.tailsafe.storm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.storm.task.TopologyContext;
import org.apache.storm.tuple.TupleImpl;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TypedLineFormatTest {
  @TempDir Path dir;

  private TupleFormat.Decoded roundTrip(TypedLineFormat f, TopologyContext ctx, List<Object> values) {
    byte[] line = f.encode(new TupleImpl(ctx, new ArrayList<>(values), "spout", 3, "default"));
    String text = new String(line, StandardCharsets.UTF_8);
    assertEquals('\n', text.charAt(text.length() - 1), "a record ends with a newline");
    assertEquals(text.length() - 1, text.indexOf('\n'), "a record holds one newline only: " + text);
    return f.decode(text.substring(0, text.length() - 1), Fixtures.INPUTS);
  }

  @Test
  void every_value_type_survives_its_line() {
    Map<String, Object> conf = Fixtures.conf("t");
    TypedLineFormat f = new TypedLineFormat();
    f.prepare(conf);
    TopologyContext ctx = Fixtures.context(conf, "count", 7, dir);
    Map<String, Integer> map = new HashMap<>(Map.of("a", 1));
    List<Object> values = Arrays.asList("tab\there\nnew\\line\rcr é 日本", 42, -7L, (short) 3, (byte) -2, 0.1, 1.5f, true, false, null,
        new byte[] {0, 10, 9, -1}, "", map, new ArrayList<>(List.of("x", 2L)), Double.NaN, Long.MIN_VALUE);
    TupleFormat.Decoded d = roundTrip(f, ctx, values);
    assertEquals("spout", d.sourceComponent());
    assertEquals(3, d.sourceTask());
    assertEquals("default", d.streamId());
    assertEquals(values.size(), d.values().size());
    for (int i = 0; i < values.size(); i++) {
      Object want = values.get(i);
      Object got = d.values().get(i);
      if (want instanceof byte[] b) {
        assertArrayEquals(b, (byte[]) got);
      } else {
        assertEquals(want, got, "value " + i);
        if (want != null) assertEquals(want.getClass(), got.getClass(), "the type of value " + i);
      }
    }
  }

  @Test
  void random_strings_survive_their_line() {
    TypedLineFormat f = new TypedLineFormat();
    Map<String, Object> conf = Fixtures.conf("t");
    f.prepare(conf);
    TopologyContext ctx = Fixtures.context(conf, "count", 7, dir);
    Random r = new Random(22);
    char[] alphabet = {'a', '\t', '\n', '\r', '\\', 't', 'n', ' ', 'é', ':'};
    for (int round = 0; round < 500; round++) {
      StringBuilder s = new StringBuilder();
      for (int i = r.nextInt(12); i > 0; i--) s.append(alphabet[r.nextInt(alphabet.length)]);
      TupleFormat.Decoded d = roundTrip(f, ctx, List.of(s.toString(), (long) round));
      assertEquals(s.toString(), d.values().get(0));
    }
  }

  @Test
  void a_bad_line_is_refused_with_what_is_wrong() {
    TypedLineFormat f = new TypedLineFormat();
    f.prepare(Fixtures.conf("t"));
    String[][] cases = {
        {"spout:3", "needs SOURCE:TASK and STREAM"},
        {"spout\tdefault\tsx", "has no ':TASK'"},
        {"spout:x\tdefault\tsx", "is not a number"},
        {"spout:3\tdefault\tqx", "value 1: unknown type letter 'q'"},
        {"spout:3\tdefault\t", "value 1: empty"},
        {"spout:3\tdefault\tsbad\\q", "unknown escape"},
        {"spout:3\tdefault\tsend\\", "a backslash ends the text"},
        {"spout:3\tdefault\til2", "value 1"},
        {"spout:3\tdefault\tbyes", "neither true nor false"},
        {"spout:3\tdefault\tnx", "null with text"},
    };
    for (String[] c : cases) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> f.decode(c[0], Fixtures.INPUTS), c[0]);
      assertTrue(e.getMessage().contains(c[1]), "'" + e.getMessage() + "' should say '" + c[1] + "'");
    }
  }
}
