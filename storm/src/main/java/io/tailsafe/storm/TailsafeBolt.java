package io.tailsafe.storm;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.Field;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.storm.Config;
import org.apache.storm.generated.GlobalStreamId;
import org.apache.storm.task.OutputCollector;
import org.apache.storm.task.ShellBolt;
import org.apache.storm.task.TopologyContext;
import org.apache.storm.topology.BasicBoltExecutor;
import org.apache.storm.topology.IBasicBolt;
import org.apache.storm.topology.IRichBolt;
import org.apache.storm.topology.OutputFieldsDeclarer;
import org.apache.storm.tuple.Tuple;
import org.apache.storm.utils.ShellProcess;
import org.apache.storm.utils.TupleUtils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Protects any bolt with tailsafe: every tuple is appended to the task's backup file before the
 * bolt sees it, and the task's checkpoint says where its unprocessed tail starts, so that when
 * the task's process dies, tailsafe runs a recovery hook on that tail on another host.
 *
 * <pre>
 *   builder.setBolt("count", new TailsafeBolt(new CountBolt(url)), 4).fieldsGrouping("parse", new Fields("host"));
 * </pre>
 *
 * <p>In {@code prepare} the task takes its files ({@link TaskFiles}: the layout and the restart
 * rule), writes the file's header ({@link GenerationHeader}), prepares the wrapped bolt and then
 * writes the pid file: the worker's pid, or for a {@link ShellBolt} its subprocess's, which is
 * the process that handles the tuples (and whose death the agent then sees at once). In
 * {@code execute} a tuple becomes one record ({@link TupleFormat}; {@link TypedLineFormat} by
 * default) appended with one write, then the wrapped bolt executes it with
 * {@link RecordPosition#current()} set. A tuple is finished when the bolt acks or fails it (or,
 * with {@link #processedOnReturn}, when execute returns, for bolts that never ack); the
 * checkpoint, the lowest offset not yet finished ({@link AckWatermark}), is written every
 * {@link #checkpointEvery} finished tuples and on every tick tuple. Tick tuples are not logged;
 * they reach the wrapped bolt only if it asked for them (this wrapper asks for its own, every
 * {@link #tickSeconds}, when the bolt did not).
 *
 * <p>The spool directory is {@link #spoolDir} if set, else the topology's {@value #SPOOL_CONF}
 * setting, else the worker's system property of that name, else {@value #DEFAULT_SPOOL}
 * ({@link #spoolDirOf}); tailsafe-agent finds the files there through one
 * {@code [[bolt_pattern]]} rule (tailsafe-storm(7)).
 */
public class TailsafeBolt implements IRichBolt {
  private static final long serialVersionUID = 1L;
  private static final Logger LOG = LoggerFactory.getLogger(TailsafeBolt.class);

  /** The topology setting that names the spool directory. */
  public static final String SPOOL_CONF = "tailsafe.spool.dir";
  /** The spool directory when neither the bolt nor the topology names one. */
  public static final String DEFAULT_SPOOL = "/var/spool/tailsafe-storm";

  private final IRichBolt bolt;
  private TupleFormat format = new TypedLineFormat();
  private String spool;
  private int checkpointEvery = 1000;
  private int tickSeconds = 1;
  private boolean onReturn;
  private boolean syncCheckpoints;
  private boolean positionValues;
  private int previousWaitSeconds = 60;

  private transient TaskFiles files;
  private transient BackupAppender out;
  private transient AckTracker tracker;
  private transient String fileId;
  private transient boolean passTicks;

  /** Wraps a rich bolt. */
  public TailsafeBolt(IRichBolt bolt) {
    if (bolt == null) throw new IllegalArgumentException("TailsafeBolt needs a bolt to wrap");
    this.bolt = bolt;
  }

  /** Wraps a basic bolt (through Storm's BasicBoltExecutor, which acks when execute returns). */
  public TailsafeBolt(IBasicBolt bolt) {
    this(new BasicBoltExecutor(bolt));
  }

  /** The record format (default: {@link TypedLineFormat}). */
  public TailsafeBolt format(TupleFormat f) {
    if (f == null) throw new IllegalArgumentException("format is null");
    this.format = f;
    return this;
  }

  /** The spool directory, overriding the topology's {@value #SPOOL_CONF}. */
  public TailsafeBolt spoolDir(String dir) {
    if (dir == null || !dir.startsWith("/")) throw new IllegalArgumentException("the spool directory must be an absolute path, not '" + dir + "'");
    this.spool = dir;
    return this;
  }

  /** Write the checkpoint every {@code n} finished tuples (default 1000), besides every tick. */
  public TailsafeBolt checkpointEvery(int n) {
    if (n < 1) throw new IllegalArgumentException("checkpointEvery must be at least 1, not " + n);
    this.checkpointEvery = n;
    return this;
  }

  /** The tick period this wrapper asks for when the bolt asks for none (default 1 s; 0: none). */
  public TailsafeBolt tickSeconds(int seconds) {
    if (seconds < 0) throw new IllegalArgumentException("tickSeconds must not be negative, not " + seconds);
    this.tickSeconds = seconds;
    return this;
  }

  /** A tuple is finished when execute returns, for bolts that never ack or fail. */
  public TailsafeBolt processedOnReturn() {
    this.onReturn = true;
    return this;
  }

  /**
   * Give the wrapped bolt each tuple with three more values, the record's file id, start and end
   * ({@link PositionedTuple}): for a multilang ShellBolt, whose subprocess cannot call
   * {@link RecordPosition#current()}.
   */
  public TailsafeBolt positionValues() {
    this.positionValues = true;
    return this;
  }

  /** fsync each checkpoint and its directory (see {@link CheckpointFile}). */
  public TailsafeBolt syncCheckpoints() {
    this.syncCheckpoints = true;
    return this;
  }

  /** How long prepare waits for an earlier process that still runs this task (default 60 s). */
  public TailsafeBolt previousProcessWait(int seconds) {
    if (seconds < 0) throw new IllegalArgumentException("previousProcessWait must not be negative, not " + seconds);
    this.previousWaitSeconds = seconds;
    return this;
  }

  /** The wrapped bolt. */
  public IRichBolt wrapped() {
    return bolt;
  }

  @Override
  public void prepare(Map<String, Object> topoConf, TopologyContext context, OutputCollector collector) {
    String topology = String.valueOf(topoConf.getOrDefault(Config.TOPOLOGY_NAME, context.getStormId()));
    String component = context.getThisComponentId();
    int task = context.getThisTaskId();
    format.prepare(topoConf);
    passTicks = bolt.getComponentConfiguration() != null && bolt.getComponentConfiguration().get(Config.TOPOLOGY_TICK_TUPLE_FREQ_SECS) != null;

    Path dir = Path.of(spoolDirOf(spool, topoConf));
    files = TaskFiles.of(dir, topology, component, task, syncCheckpoints);
    fileId = GenerationHeader.newFileId();
    byte[] spec = specBytes(topology, component, task, topoConf, inputs(context));
    String header = new GenerationHeader(fileId, topology, component, task, format.name(), spec).line();
    try {
      TaskFiles.Started started = files.start(header, Duration.ofSeconds(previousWaitSeconds));
      out = started.appender();
      switch (started.previous()) {
        case NONE -> LOG.info("tailsafe: task {} writes {}", files.boltName(), files.log);
        case PROCESSED -> LOG.info("tailsafe: task {} writes a new {}; the last one was processed to its end ({} bytes) and is {}",
            files.boltName(), files.log, started.previousSize(), started.renamedTo());
        case TAIL -> LOG.warn("tailsafe: task {} found an unprocessed tail in its last file ({} bytes, checkpoint {}): renamed to {} and "
            + "left to tailsafe's recovery; this process writes a new {}", files.boltName(), started.previousSize(),
            started.previousCheckpoint() < 0 ? "unreadable" : started.previousCheckpoint(), started.renamedTo(), files.log);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("tailsafe: task " + files.boltName() + " cannot start its backup file " + files.log + ": " + e.getMessage(), e);
    }
    tracker = new AckTracker(collector, files.checkpoint, out.end(), checkpointEvery);
    bolt.prepare(topoConf, context, new OutputCollector(tracker));
    long pid = processOf(bolt);
    try {
      files.writePid(pid);
    } catch (IOException e) {
      throw new UncheckedIOException("tailsafe: task " + files.boltName() + " cannot write its pid file " + files.pid + ": " + e.getMessage(), e);
    }
  }

  @Override
  public void execute(Tuple tuple) {
    if (TupleUtils.isTick(tuple)) {
      // The bolt first: a bolt that commits and acks on its ticks moves the checkpoint now.
      if (passTicks) bolt.execute(tuple);
      tracker.checkpointNow();
      return;
    }
    byte[] record = format.encode(tuple);
    long start;
    try {
      start = out.append(record);
    } catch (IOException e) {
      // The tuple is not in the backup file: the bolt must not see it, and the task must stop
      // (Storm restarts it) rather than process what tailsafe could not recover.
      throw new UncheckedIOException("tailsafe: cannot append to " + out.path() + ": " + e.getMessage(), e);
    }
    long end = start + record.length;
    RecordPosition position = new RecordPosition(fileId, start, end);
    Tuple given = positionValues ? new PositionedTuple(tuple, position) : tuple;
    tracker.appended(given, start, end);
    RecordPosition.set(position);
    try {
      bolt.execute(given);
    } finally {
      RecordPosition.set(null);
    }
    if (onReturn) tracker.finished(given);
  }

  @Override
  public void cleanup() {
    if (tracker != null) tracker.checkpointNow();
    bolt.cleanup();
    if (out != null) {
      try {
        out.close();
      } catch (IOException e) {
        LOG.warn("tailsafe: closing {}: {}", out.path(), e.getMessage());
      }
    }
  }

  @Override
  public void declareOutputFields(OutputFieldsDeclarer declarer) {
    bolt.declareOutputFields(declarer);
  }

  @Override
  public Map<String, Object> getComponentConfiguration() {
    Map<String, Object> own = bolt.getComponentConfiguration();
    Map<String, Object> conf = own == null ? new HashMap<>() : new HashMap<>(own);
    if (tickSeconds > 0 && conf.get(Config.TOPOLOGY_TICK_TUPLE_FREQ_SECS) == null) {
      conf.put(Config.TOPOLOGY_TICK_TUPLE_FREQ_SECS, tickSeconds);
    }
    return conf;
  }

  /** This task's files (after prepare). */
  public TaskFiles files() {
    return files;
  }

  /** The current checkpoint, and tuples appended but not finished (after prepare). */
  public long checkpoint() {
    return tracker.checkpoint();
  }

  public int inFlight() {
    return tracker.inFlight();
  }

  private static List<TupleFormat.InputStream> inputs(TopologyContext context) {
    List<TupleFormat.InputStream> inputs = new ArrayList<>();
    for (GlobalStreamId id : context.getThisSources().keySet()) {
      inputs.add(new TupleFormat.InputStream(id.get_componentId(), id.get_streamId(),
          context.getComponentOutputFields(id).toList()));
    }
    inputs.sort((a, b) -> (a.component() + "\0" + a.stream()).compareTo(b.component() + "\0" + b.stream()));
    return inputs;
  }

  private byte[] specBytes(String topology, String component, int task, Map<String, Object> conf, List<TupleFormat.InputStream> inputs) {
    try {
      return new TaskSpec(topology, component, task, bolt, format, conf, inputs, onReturn, passTicks, positionValues).toBytes();
    } catch (IOException | RuntimeException e) {
      LOG.warn("tailsafe: task {}/{}/{}: the bolt or the topology's configuration cannot be serialised ({}), so its files carry no "
          + "spec and tailsafe-storm-replay cannot run it; other hooks can", topology, component, task, e.toString());
      return null;
    }
  }

  /**
   * The spool directory: the bolt's own setting, else the topology's {@value #SPOOL_CONF}, else
   * the worker JVM's system property of that name (a host's own, through its supervisor's
   * worker.childopts), else {@value #DEFAULT_SPOOL}.
   */
  static String spoolDirOf(String own, Map<String, Object> topoConf) {
    if (own != null) return own;
    Object fromTopology = topoConf.get(SPOOL_CONF);
    if (fromTopology != null) return String.valueOf(fromTopology);
    return System.getProperty(SPOOL_CONF, DEFAULT_SPOOL);
  }

  /** The process that handles the task's tuples: a ShellBolt's subprocess, else this JVM. */
  static long processOf(IRichBolt bolt) {
    if (bolt instanceof ShellBolt) {
      try {
        Field f = ShellBolt.class.getDeclaredField("process");
        f.setAccessible(true);
        ShellProcess p = (ShellProcess) f.get(bolt);
        if (p != null && p.getPid() != null) return p.getPid().longValue();
        LOG.warn("tailsafe: the ShellBolt has no subprocess after prepare; the worker's pid stands for it");
      } catch (ReflectiveOperationException | RuntimeException e) {
        LOG.warn("tailsafe: cannot read the ShellBolt's subprocess pid ({}); the worker's pid stands for it", e.toString());
      }
    }
    return ProcessHandle.current().pid();
  }
}
