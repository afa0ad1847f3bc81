package io.tailsafe.storm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.storm.Config;
import org.apache.storm.task.OutputCollector;
import org.apache.storm.task.TopologyContext;
import org.apache.storm.topology.OutputFieldsDeclarer;
import org.apache.storm.topology.base.BaseRichBolt;
import org.apache.storm.tuple.Tuple;
import org.apache.storm.utils.TupleUtils;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReplayTest {
  @TempDir Path spool;
  @TempDir Path pidDir;

  /** Results keyed by record (file id and offset), as an exactly-once results store keeps them. */
  static final Map<String, Long> RESULTS = new ConcurrentHashMap<>();
  static final List<String> COMMITTED_TWICE = new ArrayList<>();

  /** Holds tuples until a tick, then stores them by position and acks them (a terminal bolt). */
  static final class CommitOnTickBolt extends BaseRichBolt {
    private static final long serialVersionUID = 1L;
    final boolean failAll;
    private transient OutputCollector collector;
    private transient List<Tuple> held;
    private transient List<RecordPosition> positions;

    CommitOnTickBolt(boolean failAll) {
      this.failAll = failAll;
    }

    @Override
    public void prepare(Map<String, Object> conf, TopologyContext context, OutputCollector c) {
      collector = c;
      held = new ArrayList<>();
      positions = new ArrayList<>();
    }

    @Override
    public void execute(Tuple t) {
      if (!TupleUtils.isTick(t)) {
        held.add(t);
        positions.add(RecordPosition.current());
        return;
      }
      for (int i = 0; i < held.size(); i++) {
        if (failAll) {
          collector.fail(held.get(i));
          continue;
        }
        RecordPosition p = positions.get(i);
        String key = p.fileId() + ":" + p.start();
        if (RESULTS.putIfAbsent(key, held.get(i).getLong(1)) != null) {
          synchronized (COMMITTED_TWICE) {
            COMMITTED_TWICE.add(key);
          }
        }
        collector.emit(t, List.of(held.get(i).getString(0)));
        collector.ack(held.get(i));
      }
      held.clear();
      positions.clear();
    }

    @Override
    public void declareOutputFields(OutputFieldsDeclarer d) {
      d.declare(new org.apache.storm.tuple.Fields("host"));
    }

    @Override
    public Map<String, Object> getComponentConfiguration() {
      return Map.of(Config.TOPOLOGY_TICK_TUPLE_FREQ_SECS, 60);
    }
  }

  @BeforeEach
  void clear() {
    RESULTS.clear();
    COMMITTED_TWICE.clear();
  }

  /** Runs ten tuples through a wrapped bolt that commits the first four, then "dies". */
  private TailsafeBolt deadTask(boolean failAll) {
    Map<String, Object> conf = Fixtures.conf("weblog");
    conf.put(TailsafeBolt.SPOOL_CONF, spool.toString());
    TopologyContext ctx = Fixtures.context(conf, "count", 4, pidDir);
    TailsafeBolt bolt = new TailsafeBolt(new CommitOnTickBolt(failAll));
    bolt.prepare(conf, ctx, new OutputCollector(new Fixtures.Recorder()));
    for (long i = 0; i < 10; i++) {
      bolt.execute(Fixtures.tuple(ctx, "h\t" + i, i));
      if (i == 3) bolt.execute(Fixtures.tick(ctx));
    }
    return bolt;
  }

  private record Outcome(int rc, String err) {}

  private Outcome replay(String... args) throws Exception {
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int rc;
    try {
      rc = Replay.run(args, new ByteArrayInputStream(new byte[0]), new PrintStream(err, true, StandardCharsets.UTF_8));
    } catch (Replay.Usage e) {
      return new Outcome(2, e.getMessage());
    }
    return new Outcome(rc, err.toString(StandardCharsets.UTF_8));
  }

  @Test
  void the_tail_is_replayed_through_the_bolts_own_code_and_every_record_ends_stored_once() throws Exception {
    TailsafeBolt task = deadTask(false);
    assertEquals(4, RESULTS.size());
    long checkpoint = task.files().checkpoint.read().getAsLong();
    assertEquals(task.checkpoint(), checkpoint, "the tick that committed four records wrote the checkpoint after them");
    long size = Files.size(task.files().log);
    Path emitted = spool.resolve("emitted");
    Outcome o = replay("--file", task.files().log.toString(), "--from", String.valueOf(checkpoint), "--to", String.valueOf(size),
        "--emitted", emitted.toString(), "--wait", "5");
    assertEquals(0, o.rc(), o.err());
    assertTrue(o.err().contains("6 records executed, 6 acked, 0 failed, 0 unfinished, 6 tuples emitted, 0 undecodable"), o.err());
    assertEquals(10, RESULTS.size());
    for (long i = 0; i < 10; i++) assertTrue(RESULTS.containsValue(i), "record " + i + " stored");
    assertEquals(List.of("default\th\\t4", "default\th\\t5"), Files.readAllLines(emitted).subList(0, 2));
    assertTrue(COMMITTED_TWICE.isEmpty());
  }

  @Test
  void a_whole_file_replayed_again_skips_its_header_and_stores_nothing_twice() throws Exception {
    TailsafeBolt task = deadTask(false);
    Outcome o = replay("--file", task.files().log.toString(), "--wait", "5");
    assertEquals(0, o.rc(), o.err());
    assertTrue(o.err().contains("10 records executed, 10 acked"), o.err());
    assertEquals(10, RESULTS.size());
    assertEquals(4, COMMITTED_TWICE.size(), "the four stored before are seen by key, and not stored again");
  }

  @Test
  void an_undecodable_record_is_reported_with_its_offset_and_skipped() throws Exception {
    TailsafeBolt task = deadTask(false);
    long size = Files.size(task.files().log);
    Files.writeString(task.files().log, "spout:3\tdefault\tqbad\n", java.nio.file.StandardOpenOption.APPEND);
    Outcome o = replay("--file", task.files().log.toString(), "--from", String.valueOf(size), "--wait", "5");
    assertEquals(0, o.rc(), o.err());
    assertTrue(o.err().contains("undecodable record at " + size + " (value 1: unknown type letter 'q')"), o.err());
  }

  @Test
  void failed_tuples_make_the_hook_fail_so_tailsafe_tries_again() throws Exception {
    TailsafeBolt task = deadTask(true);
    Outcome o = replay("--file", task.files().log.toString(), "--wait", "5");
    assertEquals(1, o.rc(), o.err());
    assertTrue(o.err().contains("10 failed"), o.err());
  }

  @Test
  void a_file_without_a_header_or_a_bad_argument_is_a_usage_error() throws Exception {
    Path plain = spool.resolve("plain.log");
    Files.writeString(plain, "GET / HTTP/1.1\n");
    Outcome o = replay("--file", plain.toString());
    assertEquals(2, o.rc());
    assertTrue(o.err().contains("was it written by TailsafeBolt?"), o.err());
    assertTrue(replay("--from").err().contains("needs a value"));
    assertTrue(replay("--bogus", "1").err().contains("unknown option '--bogus'"));
    assertTrue(replay("--file", plain.toString(), "--from", "-3").err().contains("'-3' is not a non-negative number"));
    Outcome asHook = replay();
    assertEquals(2, asHook.rc());
    assertTrue(asHook.err().contains("TAILSAFE_FROM is not set"), asHook.err());
  }
}
