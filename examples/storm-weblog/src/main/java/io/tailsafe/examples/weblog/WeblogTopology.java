package io.tailsafe.examples.weblog;

import io.tailsafe.storm.RawLineFormat;
import io.tailsafe.storm.TailsafeBolt;
import java.util.ArrayList;
import java.util.List;
import org.apache.storm.Config;
import org.apache.storm.StormSubmitter;
import org.apache.storm.topology.IRichBolt;
import org.apache.storm.topology.TopologyBuilder;
import org.apache.storm.tuple.Fields;

/**
 * Submits the weblog topology: access-log spout -> (fields grouping by host) -> count bolts.
 *
 * <pre>
 *   java -cp STORM_LIBS:storm-weblog.jar -Dstorm.jar=storm-weblog.jar io.tailsafe.examples.weblog.WeblogTopology \
 *     --name weblog --log access.log --db postgresql://... --bolt /usr/bin/weblog-storm-bolt [--no-tailsafe] \
 *     [--spool DIR] [--workers 2] [--tasks 4] [--max-rate R] [--spout-rate R] [--position FILE] [--receive-queue 1024]
 * </pre>
 * With tailsafe (the default), each count task is a TailsafeBolt around the ShellBolt: raw
 * records (the log lines as they are, so weblog-analyze is the recovery hook) and the record's
 * place given to weblog-storm-bolt as tuple values, which counts by record, exactly once.
 * Acking is off (no acker executors), as a speed-first topology runs. Storm's client settings
 * (nimbus.seeds, ports) come from the usual storm.yaml (-Dstorm.conf.file) or -c options.
 */
public final class WeblogTopology {
  private WeblogTopology() {}

  public static void main(String[] args) throws Exception {
    String name = "weblog";
    String log = null;
    String db = null;
    String boltBinary = null;
    String spool = null;
    String position = null;
    boolean tailsafe = true;
    int workers = 2;
    int tasks = 4;
    long maxRate = 0;
    long spoutRate = 0;
    int receiveQueue = 1024;
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (a.equals("--no-tailsafe")) {
        tailsafe = false;
        continue;
      }
      if (i + 1 >= args.length) usage("option " + a + " needs a value (or is unknown)");
      String v = args[++i];
      switch (a) {
        case "--name" -> name = v;
        case "--log" -> log = v;
        case "--db" -> db = v;
        case "--bolt" -> boltBinary = v;
        case "--spool" -> spool = v;
        case "--position" -> position = v;
        case "--workers" -> workers = positive(a, v);
        case "--tasks" -> tasks = positive(a, v);
        case "--max-rate" -> maxRate = Long.parseLong(v);
        case "--spout-rate" -> spoutRate = Long.parseLong(v);
        case "--receive-queue" -> receiveQueue = positive(a, v);
        default -> usage("unknown option '" + a + "'");
      }
    }
    if (log == null || db == null || boltBinary == null) usage("--log, --db and --bolt are required");
    if (position == null) position = log + ".position";

    List<String> command = new ArrayList<>(List.of(boltBinary, "--db", db));
    if (maxRate > 0) command.addAll(List.of("--max-rate", String.valueOf(maxRate)));
    IRichBolt count = new WeblogShellBolt(command.toArray(new String[0]));
    if (tailsafe) {
      TailsafeBolt wrapped = new TailsafeBolt(count).format(new RawLineFormat("line")).positionValues();
      if (spool != null) wrapped.spoolDir(spool);
      count = wrapped;
    }
    TopologyBuilder builder = new TopologyBuilder();
    builder.setSpout("access-log", new AccessLogSpout(log, position, spoutRate), 1);
    builder.setBolt("count", count, tasks).fieldsGrouping("access-log", new Fields("host"));

    Config conf = new Config();
    conf.setNumWorkers(workers);
    conf.setNumAckers(0);
    // Tuples wait in an executor's receive queue before execute appends them to the backup file;
    // a worker that dies loses what waits there, as it does without tailsafe. A short queue
    // (Storm's default holds 32768) keeps that loss small: a fast spout feels backpressure sooner.
    conf.put(Config.TOPOLOGY_EXECUTOR_RECEIVE_BUFFER_SIZE, receiveQueue);
    StormSubmitter.submitTopology(name, conf, builder.createTopology());
    System.out.println("submitted topology " + name + (tailsafe ? " with tailsafe" : " without tailsafe"));
  }

  private static int positive(String what, String v) {
    int n = Integer.parseInt(v);
    if (n < 1) usage(what + " must be at least 1");
    return n;
  }

  private static void usage(String why) {
    System.err.println("WeblogTopology: " + why);
    System.exit(2);
  }
}
