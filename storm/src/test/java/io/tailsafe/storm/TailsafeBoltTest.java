package io.tailsafe.storm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.storm.Config;
import org.apache.storm.task.OutputCollector;
import org.apache.storm.task.TopologyContext;
import org.apache.storm.topology.BasicOutputCollector;
import org.apache.storm.topology.OutputFieldsDeclarer;
import org.apache.storm.topology.base.BaseBasicBolt;
import org.apache.storm.topology.base.BaseRichBolt;
import org.apache.storm.tuple.Tuple;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TailsafeBoltTest {
  @TempDir Path spool;
  @TempDir Path pidDir;

  /** Holds its tuples, acks none by itself; checks that each is in the file before it sees it. */
  static final class HoldingBolt extends BaseRichBolt {
    private static final long serialVersionUID = 1L;
    transient OutputCollector collector;
    transient List<Tuple> seen;
    transient List<RecordPosition> positions;
    transient int ticks;
    boolean wantsTicks;

    @Override
    public void prepare(Map<String, Object> conf, TopologyContext context, OutputCollector c) {
      collector = c;
      seen = new ArrayList<>();
      positions = new ArrayList<>();
    }

    @Override
    public void execute(Tuple t) {
      if (org.apache.storm.utils.TupleUtils.isTick(t)) {
        ticks++;
        return;
      }
      RecordPosition p = RecordPosition.current();
      positions.add(p);
      seen.add(t);
    }

    @Override
    public void declareOutputFields(OutputFieldsDeclarer d) {}

    @Override
    public Map<String, Object> getComponentConfiguration() {
      return wantsTicks ? Map.of(Config.TOPOLOGY_TICK_TUPLE_FREQ_SECS, 5) : null;
    }
  }

  private Map<String, Object> conf() {
    Map<String, Object> conf = Fixtures.conf("weblog");
    conf.put(TailsafeBolt.SPOOL_CONF, spool.toString());
    return conf;
  }

  private TopologyContext context(Map<String, Object> conf) {
    return Fixtures.context(conf, "count", 4, pidDir);
  }

  private static String read(Path p, long from, long to) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "r")) {
      byte[] b = new byte[(int) (to - from)];
      f.seek(from);
      f.readFully(b);
      return new String(b, StandardCharsets.UTF_8);
    }
  }

  @SuppressWarnings("serial")
  @Test
  void each_tuple_is_in_the_backup_file_before_the_bolt_sees_it() throws IOException {
    Map<String, Object> conf = conf();
    TopologyContext ctx = context(conf);
    Path log = spool.resolve("weblog/count/task-4.log");
    List<String> inFileWhenSeen = new ArrayList<>();
    BaseRichBolt checking = new BaseRichBolt() {
      @Override
      public void prepare(Map<String, Object> c, TopologyContext x, OutputCollector o) {}

      @Override
      public void execute(Tuple t) {
        RecordPosition p = RecordPosition.current();
        try {
          inFileWhenSeen.add(read(log, p.start(), p.end()));
        } catch (IOException e) {
          inFileWhenSeen.add(e.toString());
        }
      }

      @Override
      public void declareOutputFields(OutputFieldsDeclarer d) {}
    };
    TailsafeBolt bolt = new TailsafeBolt(checking).processedOnReturn();
    bolt.prepare(conf, ctx, new OutputCollector(new Fixtures.Recorder()));
    bolt.execute(Fixtures.tuple(ctx, "a.example", 1));
    bolt.execute(Fixtures.tuple(ctx, "b\texample", 2));
    assertEquals(List.of("spout:3\tdefault\tsa.example\tl1\n", "spout:3\tdefault\tsb\\texample\tl2\n"), inFileWhenSeen);
    assertNull(RecordPosition.current(), "the position is set only inside execute");
    String header = Files.readAllLines(log).get(0);
    GenerationHeader h = GenerationHeader.parse(header);
    assertEquals("weblog", h.topology);
    assertEquals("count", h.component);
    assertEquals(4, h.task);
    assertEquals("typed", h.format);
    assertEquals(String.valueOf(ProcessHandle.current().pid()), Files.readString(spool.resolve("weblog/count/task-4.pid")).trim());
    bolt.cleanup();
  }

  @Test
  void the_checkpoint_is_the_lowest_record_not_yet_acked_or_failed() throws IOException {
    Map<String, Object> conf = conf();
    TopologyContext ctx = context(conf);
    HoldingBolt inner = new HoldingBolt();
    TailsafeBolt bolt = new TailsafeBolt(inner).checkpointEvery(2);
    Fixtures.Recorder storm = new Fixtures.Recorder();
    bolt.prepare(conf, ctx, new OutputCollector(storm));
    CheckpointFile cp = bolt.files().checkpoint;
    long header = cp.read().getAsLong();
    for (int i = 0; i < 4; i++) bolt.execute(Fixtures.tuple(ctx, "h" + i, i));
    List<RecordPosition> p = inner.positions;
    assertEquals(header, p.get(0).start());
    inner.collector.ack(inner.seen.get(1));
    inner.collector.ack(inner.seen.get(3));
    // Two finished: the checkpoint is written, and stays at record 0, which is not acked.
    assertEquals(header, cp.read().getAsLong());
    assertEquals(header, bolt.checkpoint());
    inner.collector.fail(inner.seen.get(0));
    assertEquals(p.get(2).start(), bolt.checkpoint(), "a failed tuple is Storm's to replay, not the tail's");
    bolt.execute(Fixtures.tick(ctx));
    assertEquals(p.get(2).start(), cp.read().getAsLong(), "a tick writes the checkpoint");
    assertEquals(0, inner.ticks, "a tick the bolt did not ask for does not reach it");
    inner.collector.ack(inner.seen.get(2));
    bolt.cleanup();
    assertEquals(p.get(3).end(), cp.read().getAsLong(), "cleanup writes the checkpoint");
    assertEquals(3, storm.acked.size());
    assertEquals(1, storm.failed.size());
    assertEquals(List.of(0L, 1L, 2L, 3L), inner.seen.stream().map(t -> t.getLong(1)).toList());
    // Ticks are not logged: the file holds the header and four records.
    assertEquals(5, Files.readAllLines(bolt.files().log).size());
  }

  @Test
  void a_bolt_that_asked_for_ticks_gets_them_and_keeps_its_period() {
    Map<String, Object> conf = conf();
    TopologyContext ctx = context(conf);
    HoldingBolt inner = new HoldingBolt();
    inner.wantsTicks = true;
    TailsafeBolt bolt = new TailsafeBolt(inner);
    assertEquals(5, bolt.getComponentConfiguration().get(Config.TOPOLOGY_TICK_TUPLE_FREQ_SECS));
    assertEquals(1, new TailsafeBolt(new HoldingBolt()).getComponentConfiguration().get(Config.TOPOLOGY_TICK_TUPLE_FREQ_SECS));
    assertNull(new TailsafeBolt(new HoldingBolt()).tickSeconds(0).getComponentConfiguration().get(Config.TOPOLOGY_TICK_TUPLE_FREQ_SECS));
    bolt.prepare(conf, ctx, new OutputCollector(new Fixtures.Recorder()));
    bolt.execute(Fixtures.tick(ctx));
    assertEquals(1, inner.ticks);
    bolt.cleanup();
  }

  static final class CountingBasicBolt extends BaseBasicBolt {
    private static final long serialVersionUID = 1L;
    @Override
    public void execute(Tuple input, BasicOutputCollector collector) {
      collector.emit(List.of(input.getString(0)));
    }

    @Override
    public void declareOutputFields(OutputFieldsDeclarer d) {
      d.declare(new org.apache.storm.tuple.Fields("host"));
    }
  }

  @Test
  void a_basic_bolt_is_finished_when_it_returns() throws IOException {
    Map<String, Object> conf = conf();
    TopologyContext ctx = context(conf);
    TailsafeBolt bolt = new TailsafeBolt(new CountingBasicBolt()).checkpointEvery(1);
    Fixtures.Recorder storm = new Fixtures.Recorder();
    bolt.prepare(conf, ctx, new OutputCollector(storm));
    bolt.execute(Fixtures.tuple(ctx, "x", 1));
    bolt.execute(Fixtures.tuple(ctx, "y", 2));
    assertEquals(Files.size(bolt.files().log), bolt.files().checkpoint.read().getAsLong());
    assertEquals(2, storm.acked.size());
    assertEquals(List.of(List.of("x"), List.of("y")), storm.emitted);
    assertEquals(0, bolt.inFlight());
    bolt.cleanup();
  }

  @Test
  void a_restarted_task_leaves_its_unprocessed_tail_to_tailsafe_and_starts_a_new_file() throws Exception {
    Map<String, Object> conf = conf();
    TopologyContext ctx = context(conf);
    HoldingBolt inner = new HoldingBolt();
    TailsafeBolt first = new TailsafeBolt(inner).checkpointEvery(1);
    first.prepare(conf, ctx, new OutputCollector(new Fixtures.Recorder()));
    for (int i = 0; i < 3; i++) first.execute(Fixtures.tuple(ctx, "h" + i, i));
    inner.collector.ack(inner.seen.get(0));
    long checkpoint = first.files().checkpoint.read().getAsLong();
    assertEquals(inner.positions.get(1).start(), checkpoint);
    String oldBytes = Files.readString(first.files().log);
    String oldId = inner.positions.get(0).fileId();
    // The process dies here (no cleanup); Storm starts the task again in a new worker.
    HoldingBolt again = new HoldingBolt();
    TailsafeBolt second = new TailsafeBolt(again);
    second.prepare(conf, ctx, new OutputCollector(new Fixtures.Recorder()));
    List<Path> renamed;
    try (var s = Files.list(second.files().dir)) {
      renamed = s.filter(p -> p.getFileName().toString().startsWith("task-4.log.")).toList();
    }
    assertEquals(1, renamed.size());
    assertEquals(oldBytes, Files.readString(renamed.get(0)), "the old file is kept whole, tail included");
    second.execute(Fixtures.tuple(ctx, "new", 9));
    RecordPosition p = again.positions.get(0);
    assertTrue(!p.fileId().equals(oldId), "the new file has a new id");
    String header = Files.readAllLines(second.files().log).get(0);
    assertEquals(header.length() + 1, p.start(), "the new process writes after its own header only");
    assertEquals(header.length() + 1, second.files().checkpoint.read().getAsLong());
    second.cleanup();
  }

  @Test
  void the_header_carries_the_bolt_for_replay() throws Exception {
    Map<String, Object> conf = conf();
    TopologyContext ctx = context(conf);
    TailsafeBolt bolt = new TailsafeBolt(new CountingBasicBolt()).format(new RawLineFormat("host"));
    bolt.prepare(conf, ctx, new OutputCollector(new Fixtures.Recorder()));
    GenerationHeader h = GenerationHeader.parse(Files.readAllLines(bolt.files().log).get(0));
    assertEquals("raw:host", h.format);
    assertNotNull(h.spec);
    TaskSpec spec = TaskSpec.fromBytes(h.spec, getClass().getClassLoader());
    assertEquals("count", spec.component);
    assertEquals(4, spec.task);
    assertEquals(Fixtures.INPUTS, spec.inputs);
    assertEquals("org.apache.storm.topology.BasicBoltExecutor", spec.bolt.getClass().getName());
    assertEquals("raw:host", spec.format.name());
    assertEquals("weblog", spec.conf.get(Config.TOPOLOGY_NAME));
    bolt.cleanup();
  }

  @Test
  void a_positioned_bolt_gets_the_record_as_three_more_values() throws IOException {
    Map<String, Object> conf = conf();
    TopologyContext ctx = context(conf);
    HoldingBolt inner = new HoldingBolt();
    TailsafeBolt bolt = new TailsafeBolt(inner).positionValues().checkpointEvery(1);
    Fixtures.Recorder storm = new Fixtures.Recorder();
    bolt.prepare(conf, ctx, new OutputCollector(storm));
    Tuple original = Fixtures.tuple(ctx, "a.example", 7);
    bolt.execute(original);
    Tuple seen = inner.seen.get(0);
    RecordPosition p = inner.positions.get(0);
    assertEquals(List.of("a.example", 7L, p.fileId(), p.start(), p.end()), seen.getValues());
    assertEquals(5, seen.size());
    assertEquals(p.fileId(), seen.getValue(2));
    assertEquals("a.example", seen.getStringByField("host"), "the topology's fields keep their indexes");
    assertEquals(original.getMessageId(), seen.getMessageId());
    inner.collector.ack(seen);
    assertEquals(p.end(), bolt.files().checkpoint.read().getAsLong(), "an ack of the positioned tuple finishes the record");
    assertEquals(1, storm.acked.size());
    bolt.cleanup();
  }

  @Test
  void the_spool_is_the_bolts_then_the_topologys_then_the_hosts() {
    Map<String, Object> conf = new java.util.HashMap<>();
    assertEquals("/own", TailsafeBolt.spoolDirOf("/own", Map.of(TailsafeBolt.SPOOL_CONF, "/topology")));
    assertEquals("/topology", TailsafeBolt.spoolDirOf(null, Map.of(TailsafeBolt.SPOOL_CONF, "/topology")));
    String before = System.getProperty(TailsafeBolt.SPOOL_CONF);
    try {
      System.clearProperty(TailsafeBolt.SPOOL_CONF);
      assertEquals(TailsafeBolt.DEFAULT_SPOOL, TailsafeBolt.spoolDirOf(null, conf));
      System.setProperty(TailsafeBolt.SPOOL_CONF, "/host");
      assertEquals("/host", TailsafeBolt.spoolDirOf(null, conf));
    } finally {
      if (before == null) System.clearProperty(TailsafeBolt.SPOOL_CONF);
      else System.setProperty(TailsafeBolt.SPOOL_CONF, before);
    }
  }
}
