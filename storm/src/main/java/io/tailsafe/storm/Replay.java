package io.tailsafe.storm;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.storm.Config;
import org.apache.storm.Constants;
import org.apache.storm.task.OutputCollector;
import org.apache.storm.task.TopologyContext;
import org.apache.storm.tuple.Tuple;
import org.apache.storm.tuple.TupleImpl;

/**
 * {@code tailsafe-storm-replay}: a recovery hook that runs a topology's own bolt on a dead task's
 * tail, so a terminal bolt that stores results recovers with its own code.
 *
 * <p>Run by tailsafe-agent as a hook, it gets the tail on standard input (whole records,
 * starting at byte {@code TAILSAFE_FROM} of the file) and the whole file, read-only, as
 * descriptor 3, whose first line is the file's header ({@link GenerationHeader}): the bolt as
 * the topology built it, its record format, the topology's configuration and its input streams.
 * It prepares the bolt with a standalone context and a {@link ReplayCollector}, decodes every
 * record into the tuple it was and executes it with {@link RecordPosition#current()} set, then
 * sends a tick if the bolt takes ticks and waits (up to {@code --wait SECONDS}, a tick a second)
 * until every tuple is acked or failed, and calls cleanup. The topology jar and Storm's
 * worker libraries must be on the class path (the launcher script's {@code --classpath}).
 *
 * <p>Exit status: 0 when every record was executed and finished; 1 when a tuple failed, was not
 * finished in time, or the bolt threw (tailsafe then runs the hook again, so the bolt must store
 * results by {@link RecordPosition} to count each record once); 2 for a usage or header error.
 * Records that cannot be decoded are reported on standard error with their offsets and skipped:
 * running again cannot mend them.
 *
 * <pre>
 *   tailsafe-storm-replay [--file PATH [--from N --to N]] [--emitted FILE] [--wait SECONDS]
 * </pre>
 * {@code --file} replays by hand, without tailsafe: the header and the records come from PATH
 * (bytes [from, to), default the whole file).
 */
public final class Replay {
  private Replay() {}

  static final class Usage extends Exception {
    private static final long serialVersionUID = 1L;

    Usage(String m) {
      super(m);
    }
  }

  public static void main(String[] args) {
    int rc;
    try {
      rc = run(args, System.in, System.err);
    } catch (Usage e) {
      System.err.println("tailsafe-storm-replay: " + e.getMessage());
      rc = 2;
    } catch (Exception e) {
      // Unexpected: the whole trace, for whoever reads the agent's journal.
      System.err.print("tailsafe-storm-replay: ");
      e.printStackTrace();
      rc = 1;
    }
    System.exit(rc);
  }

  static int run(String[] args, InputStream stdin, java.io.PrintStream err) throws Exception {
    String file = null;
    String emittedPath = null;
    long from = -1;
    long to = -1;
    int waitSeconds = 60;
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (i + 1 >= args.length && !a.equals("--help")) throw new Usage("option " + a + " needs a value (or is unknown)");
      switch (a) {
        case "--file" -> file = args[++i];
        case "--emitted" -> emittedPath = args[++i];
        case "--from" -> from = number(a, args[++i]);
        case "--to" -> to = number(a, args[++i]);
        case "--wait" -> waitSeconds = (int) number(a, args[++i]);
        case "--help" -> throw new Usage("usage: tailsafe-storm-replay [--file PATH [--from N --to N]] [--emitted FILE] [--wait SECONDS]");
        default -> throw new Usage("unknown option '" + a + "'");
      }
    }
    if (file == null && System.getenv("TAILSAFE_FROM") == null) {
      throw new Usage("TAILSAFE_FROM is not set: run me as a tailsafe hook (which gives the tail on standard input and the file as "
          + "descriptor 3), or with --file");
    }
    Path source = file != null ? Path.of(file) : Path.of("/proc/self/fd/3");
    String headerLine = firstLine(source);
    GenerationHeader header;
    try {
      header = GenerationHeader.parse(headerLine);
    } catch (IllegalArgumentException e) {
      throw new Usage("the first line of " + (file != null ? file : "descriptor 3 (the file tailsafe gives a hook)")
          + " is not a tailsafe-storm header (" + e.getMessage() + "): was it written by TailsafeBolt?");
    }
    if (header.spec == null) throw new Usage("the header of file " + header.fileId + " carries no spec: the bolt could not be serialised");
    TaskSpec spec;
    try {
      spec = TaskSpec.fromBytes(header.spec, Thread.currentThread().getContextClassLoader());
    } catch (ClassNotFoundException e) {
      throw new Usage("class " + e.getMessage() + " of task " + header.topology + "/" + header.component + "/" + header.task
          + " is not on the class path: add the topology's jar");
    }

    InputStream records;
    long base;
    if (file != null) {
      long size = Files.size(source);
      base = from < 0 ? 0 : from;
      long end = to < 0 ? size : to;
      if (base > end || end > size) throw new Usage("--from " + base + " --to " + end + " is not within the file's " + size + " bytes");
      RandomAccessFile raf = new RandomAccessFile(source.toFile(), "r");
      raf.seek(base);
      records = new BufferedInputStream(new java.io.FileInputStream(raf.getFD()) {
        long left = end - base;

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
          if (left <= 0) return -1;
          int n = super.read(b, off, (int) Math.min(len, left));
          if (n > 0) left -= n;
          return n;
        }
      }, 1 << 16);
    } else {
      base = number("TAILSAFE_FROM", System.getenv("TAILSAFE_FROM"));
      records = new BufferedInputStream(stdin, 1 << 16);
    }

    OutputStream emitted = emittedPath == null ? null : new FileOutputStream(emittedPath, true);
    try {
      return replay(spec, header.fileId, records, base, emitted, waitSeconds, err);
    } finally {
      if (emitted != null) emitted.close();
    }
  }

  static int replay(TaskSpec spec, String fileId, InputStream records, long base, OutputStream emitted, int waitSeconds,
                    java.io.PrintStream err) throws IOException, InterruptedException {
    Map<String, Object> conf = new HashMap<>(spec.conf);
    conf.put(Config.STORM_CLUSTER_MODE, "distributed");
    Path pidDir = Files.createTempDirectory("tailsafe-storm-replay");
    Path codeDir = Files.createTempDirectory("tailsafe-storm-replay-resources");
    extractResources(spec.bolt.getClass(), codeDir, err);
    TopologyContext ctx = StandaloneContext.of(String.valueOf(conf.getOrDefault(Config.TOPOLOGY_NAME, spec.topology)), spec.component,
        spec.task, conf, spec.inputs, pidDir.toString(), codeDir.toString());
    spec.format.prepare(conf);
    ReplayCollector collector = new ReplayCollector(emitted);
    spec.bolt.prepare(conf, ctx, new OutputCollector(collector));

    long offset = base;
    long executed = 0;
    List<String> undecodable = new ArrayList<>();
    ByteArrayOutputStream line = new ByteArrayOutputStream(256);
    int c;
    boolean threw = false;
    while (true) {
      c = records.read();
      if (c != '\n' && c != -1) {
        line.write(c);
        continue;
      }
      if (c == -1 && line.size() == 0) break;
      long start = offset;
      long end = start + line.size() + (c == '\n' ? 1 : 0);
      offset = end;
      String text = line.toString(StandardCharsets.UTF_8);
      line.reset();
      if (c == -1) {
        err.println("tailsafe-storm-replay: the record at " + start + " has no newline: cut, not replayed");
        break;
      }
      if (GenerationHeader.isHeader(text)) continue;
      TupleFormat.Decoded d;
      try {
        d = spec.format.decode(text, spec.inputs);
      } catch (RuntimeException e) {
        undecodable.add(start + " (" + e.getMessage() + ")");
        continue;
      }
      int sourceTask = d.sourceTask() >= 0 ? d.sourceTask() : ctx.getComponentTasks(d.sourceComponent()).stream().findFirst().orElse(-1);
      RecordPosition position = new RecordPosition(fileId, start, end);
      Tuple t = new TupleImpl(ctx, d.values(), d.sourceComponent(), sourceTask, d.streamId());
      if (spec.positionValues) t = new PositionedTuple(t, position);
      collector.replaying(t);
      RecordPosition.set(position);
      try {
        spec.bolt.execute(t);
      } catch (RuntimeException e) {
        err.println("tailsafe-storm-replay: the bolt threw on the record at " + start + ": " + e);
        threw = true;
        break;
      } finally {
        RecordPosition.set(null);
      }
      if (spec.finishedOnReturn) collector.finished(t);
      executed++;
    }
    long deadline = System.nanoTime() + waitSeconds * 1_000_000_000L;
    while (!threw) {
      if (spec.takesTicks) spec.bolt.execute(tick(ctx));
      if (collector.pending() == 0 || System.nanoTime() > deadline) break;
      Thread.sleep(1000); // the bolt's own pace: it acks on its commits, which its ticks drive
    }
    int pending = collector.pending();
    collector.closing();
    if (!threw) spec.bolt.cleanup();
    Map<String, Long> counts = collector.counts();
    err.println("tailsafe-storm-replay: " + spec.topology + "/" + spec.component + "/task-" + spec.task + " file " + fileId + " bytes [" + base
        + ", " + offset + "): " + executed + " records executed, " + counts.get("acked") + " acked, " + counts.get("failed") + " failed, "
        + pending + " unfinished, " + counts.get("emitted") + " tuples emitted, " + undecodable.size() + " undecodable");
    for (String u : undecodable.subList(0, Math.min(20, undecodable.size()))) {
      err.println("tailsafe-storm-replay: undecodable record at " + u);
    }
    deleteTree(pidDir);
    deleteTree(codeDir);
    return threw || pending > 0 || counts.get("failed") > 0 ? 1 : 0;
  }

  /**
   * A worker runs a ShellBolt's subprocess in the topology's resources (the jar's resources/
   * directory, which the supervisor extracts): the same here, from the jar that holds the bolt's
   * class. Nothing to do for a class that does not come from a jar.
   */
  static void extractResources(Class<?> boltClass, Path codeDir, java.io.PrintStream err) throws IOException {
    java.security.CodeSource source = boltClass.getProtectionDomain().getCodeSource();
    if (source == null || !source.getLocation().getPath().endsWith(".jar")) return;
    Path jar;
    try {
      jar = Path.of(source.getLocation().toURI());
    } catch (java.net.URISyntaxException e) {
      err.println("tailsafe-storm-replay: cannot locate " + source.getLocation() + ": a ShellBolt runs without its resources");
      return;
    }
    try (java.util.zip.ZipFile zip = new java.util.zip.ZipFile(jar.toFile())) {
      for (java.util.Enumeration<? extends java.util.zip.ZipEntry> en = zip.entries(); en.hasMoreElements();) {
        java.util.zip.ZipEntry e = en.nextElement();
        if (!e.getName().startsWith("resources/") || e.getName().equals("resources/")) continue;
        Path to = codeDir.resolve(e.getName().substring("resources/".length())).normalize();
        if (!to.startsWith(codeDir)) continue;  // an entry that would climb out
        if (e.isDirectory()) {
          Files.createDirectories(to);
          continue;
        }
        Files.createDirectories(to.getParent());
        try (InputStream in = zip.getInputStream(e)) {
          Files.copy(in, to);
        }
      }
    }
  }

  private static void deleteTree(Path root) throws IOException {
    if (!Files.exists(root)) return;
    try (java.util.stream.Stream<Path> walk = Files.walk(root)) {
      for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
    }
  }

  private static Tuple tick(TopologyContext ctx) {
    return new TupleImpl(ctx, new ArrayList<>(List.of(1)), Constants.SYSTEM_COMPONENT_ID, (int) Constants.SYSTEM_TASK_ID,
        Constants.SYSTEM_TICK_STREAM_ID);
  }

  private static String firstLine(Path p) throws Usage {
    try (InputStream in = new BufferedInputStream(Files.newInputStream(p))) {
      ByteArrayOutputStream line = new ByteArrayOutputStream();
      int c;
      while ((c = in.read()) != -1 && c != '\n') {
        line.write(c);
        if (line.size() > (64 << 20)) throw new Usage(p + ": the first line is longer than 64 MiB: not a header");
      }
      return line.toString(StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new Usage("cannot read the file's header from " + p + " (" + e.getMessage() + ")"
          + (p.toString().equals("/proc/self/fd/3") ? ": run me as a tailsafe hook, which gives the file as descriptor 3, or with --file" : ""));
    }
  }

  private static long number(String what, String text) throws Usage {
    try {
      long v = Long.parseLong(text);
      if (v < 0) throw new NumberFormatException();
      return v;
    } catch (NumberFormatException e) {
      throw new Usage(what + " '" + Printable.of(text) + "' is not a non-negative number");
    }
  }
}
