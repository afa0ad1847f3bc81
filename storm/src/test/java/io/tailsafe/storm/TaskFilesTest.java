package io.tailsafe.storm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TaskFilesTest {
  @TempDir Path spool;

  private static final String HEADER = "#tailsafe-storm v=1 file=0123456789abcdef topology=t component=c task=4 format=typed\n";

  private TaskFiles files() {
    return TaskFiles.of(spool, "weblog", "count", 4, false);
  }

  private List<String> listing(TaskFiles f) throws IOException {
    try (Stream<Path> s = Files.list(f.dir)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  @Test
  void names_are_stable_valid_and_distinct() {
    TaskFiles f = files();
    assertEquals(spool.resolve("weblog/count/task-4.log"), f.log);
    assertEquals(spool.resolve("weblog/count/task-4.pid"), f.pid);
    assertEquals(spool.resolve("weblog/count/task-4.checkpoint"), f.checkpoint.path());
    assertEquals("weblog.count.task-4", f.boltName());
    assertEquals("count_bolt", TaskFiles.dirName("count_bolt"));
    assertEquals("a.2eb", TaskFiles.dirName("a.b"));
    assertEquals("a.20b.2fc", TaskFiles.dirName("a b/c"));
    assertEquals("-c3.a9t.c3.a9", TaskFiles.dirName("été"), "never a hidden name");
    assertEquals("-2ehidden", TaskFiles.dirName(".hidden"));
    assertEquals("-2da-b", TaskFiles.dirName("-a-b"));
    assertNotEquals(TaskFiles.dirName("-2da"), TaskFiles.dirName("-a"));
    assertNotEquals(TaskFiles.dirName("a.2eb"), TaskFiles.dirName("a.b"));
    assertTrue(TaskFiles.of(spool, "t", "a b", 1, false).boltName().matches("[a-zA-Z0-9._-]+"));
  }

  @Test
  void a_name_too_long_for_tailsafe_is_refused() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TaskFiles.of(spool, "t".repeat(100), "c".repeat(30), 1, false));
    assertTrue(e.getMessage().contains("longer than tailsafe's 128"), e.getMessage());
  }

  @Test
  void a_first_start_creates_the_file_with_its_header_and_checkpoint() throws IOException {
    TaskFiles f = files();
    TaskFiles.Started s = f.start(HEADER, Duration.ZERO);
    assertEquals(TaskFiles.Previous.NONE, s.previous());
    assertEquals(HEADER, Files.readString(f.log));
    assertEquals(HEADER.length(), s.appender().end());
    assertEquals(HEADER.length(), f.checkpoint.read().getAsLong());
    s.appender().close();
  }

  @Test
  void a_file_processed_to_its_end_is_renamed_too_and_a_new_one_started() throws IOException {
    TaskFiles f = files();
    TaskFiles.Started first = f.start(HEADER, Duration.ZERO);
    first.appender().append("record\n".getBytes(StandardCharsets.UTF_8));
    first.appender().close();
    f.checkpoint.write(HEADER.length() + 7);
    TaskFiles.Started second = f.start(HEADER, Duration.ZERO);
    assertEquals(TaskFiles.Previous.PROCESSED, second.previous());
    assertEquals(List.of("task-4.checkpoint", "task-4.log", second.renamedTo().getFileName().toString()), listing(f));
    assertEquals(HEADER + "record\n", Files.readString(second.renamedTo()), "kept: the record of what reached the task");
    assertEquals(HEADER, Files.readString(f.log));
    second.appender().close();
  }

  @Test
  void a_file_with_a_tail_is_renamed_whole_and_left_to_tailsafe() throws IOException {
    TaskFiles f = files();
    TaskFiles.Started first = f.start(HEADER, Duration.ZERO);
    first.appender().append("done\n".getBytes(StandardCharsets.UTF_8));
    first.appender().append("tail\n".getBytes(StandardCharsets.UTF_8));
    first.appender().close();
    f.checkpoint.write(HEADER.length() + 5);
    TaskFiles.Started second = f.start(HEADER, Duration.ZERO);
    assertEquals(TaskFiles.Previous.TAIL, second.previous());
    assertEquals(HEADER.length() + 5, second.previousCheckpoint());
    assertEquals(HEADER + "done\ntail\n", Files.readString(second.renamedTo()));
    assertTrue(second.renamedTo().getFileName().toString().matches("task-4\\.log\\.[0-9]+"), second.renamedTo().toString());
    assertEquals(HEADER, Files.readString(f.log), "the new process never continues the old file");
    assertEquals(HEADER.length(), f.checkpoint.read().getAsLong(), "the checkpoint is reset to the new file's header");
    second.appender().close();
    // A third start the same millisecond still finds a free name.
    TaskFiles.Started third = f.start(HEADER, Duration.ZERO);
    assertEquals(TaskFiles.Previous.PROCESSED, third.previous());
    third.appender().close();
  }

  @Test
  void a_file_without_a_readable_checkpoint_counts_as_a_tail() throws IOException {
    TaskFiles f = files();
    f.start(HEADER, Duration.ZERO).appender().close();
    Files.writeString(f.checkpoint.path(), "garbage");
    TaskFiles.Started s = f.start(HEADER, Duration.ZERO);
    assertEquals(TaskFiles.Previous.TAIL, s.previous());
    assertEquals(-1, s.previousCheckpoint());
    s.appender().close();
    Files.delete(f.checkpoint.path());
    assertEquals(TaskFiles.Previous.TAIL, f.start(HEADER, Duration.ZERO).previous());
  }

  @Test
  void a_live_earlier_process_is_waited_for_and_then_refused() throws Exception {
    TaskFiles f = files();
    Files.createDirectories(f.dir);
    Process other = new ProcessBuilder("sleep", "600").start();
    try {
      // The pid file is written after the process starts, as a task writes it.
      f.writePid(other.pid());
      IOException e = assertThrows(IOException.class, () -> f.start(HEADER, Duration.ofMillis(300)));
      assertTrue(e.getMessage().contains("process " + other.pid()) && e.getMessage().contains("two processes must not write"), e.getMessage());
      assertFalse(Files.exists(f.log));
    } finally {
      other.destroyForcibly().waitFor();
    }
    // Once it is gone, the task starts.
    assertEquals(TaskFiles.Previous.NONE, f.start(HEADER, Duration.ofMillis(300)).previous());
  }

  @Test
  void a_pid_file_older_than_the_process_it_names_is_not_that_process() throws Exception {
    TaskFiles f = files();
    Files.createDirectories(f.dir);
    f.writePid(1); // init started long before; its number in an old file means nothing
    Files.setLastModifiedTime(f.pid, java.nio.file.attribute.FileTime.fromMillis(0));
    assertTrue(f.previousProcess().isEmpty());
  }
}
