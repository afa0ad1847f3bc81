package io.tailsafe.storm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class GenerationHeaderTest {
  @Test
  void a_header_survives_its_line() {
    String id = GenerationHeader.newFileId();
    assertTrue(id.matches("[0-9a-f]{16}"), id);
    GenerationHeader h = new GenerationHeader(id, "web log", "count/é", 12, "raw:line", new byte[] {1, 2, 3});
    String line = h.line();
    assertTrue(line.endsWith("\n") && line.indexOf('\n') == line.length() - 1, line);
    assertTrue(line.startsWith("#tailsafe-storm v=1 file=" + id + " topology=web+log component=count%2F%C3%A9 task=12 "), line);
    GenerationHeader back = GenerationHeader.parse(line.trim());
    assertEquals(id, back.fileId);
    assertEquals("web log", back.topology);
    assertEquals("count/é", back.component);
    assertEquals(12, back.task);
    assertEquals("raw:line", back.format);
    assertArrayEquals(new byte[] {1, 2, 3}, back.spec);
    assertNull(GenerationHeader.parse(new GenerationHeader(id, "t", "c", 0, "typed", null).line().trim()).spec);
  }

  @Test
  void a_bad_header_is_refused_with_what_is_wrong() {
    String[][] cases = {
        {"#weblog file=1", "not a tailsafe-storm header"},
        {"#tailsafe-storm v=2 file=0123456789abcdef", "version '2'"},
        {"#tailsafe-storm v=1 file=xyz", "is not 16 hex digits"},
        {"#tailsafe-storm v=1 file=0123456789abcdef topology=t component=c format=f", "has no task="},
        {"#tailsafe-storm v=1 file=0123456789abcdef topology=t component=c task=z format=f", "task 'z'"},
        {"#tailsafe-storm v=1 file=0123456789abcdef topology=t component=c task=1 format=f spec=!!", "not base64"},
        {"#tailsafe-storm v=1 junk", "is not KEY=VALUE"},
    };
    for (String[] c : cases) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GenerationHeader.parse(c[0]), c[0]);
      assertTrue(e.getMessage().contains(c[1]), "'" + e.getMessage() + "' should say '" + c[1] + "'");
    }
  }

  @Test
  void every_cut_of_a_header_parses_or_is_refused_cleanly() {
    String line = new GenerationHeader(GenerationHeader.newFileId(), "t", "c", 1, "typed", new byte[] {9, 8, 7, 6, 5}).line().trim();
    for (int n = 0; n <= line.length(); n++) {
      String cut = line.substring(0, n);
      try {
        GenerationHeader.parse(cut);
      } catch (IllegalArgumentException e) {
        assertTrue(e.getMessage() != null && !e.getMessage().isEmpty());
      }
    }
  }
}
