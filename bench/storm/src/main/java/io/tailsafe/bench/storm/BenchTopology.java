package io.tailsafe.bench.storm;

import io.tailsafe.storm.TailsafeBolt;
import org.apache.storm.Config;
import org.apache.storm.StormSubmitter;
import org.apache.storm.topology.IRichBolt;
import org.apache.storm.topology.TopologyBuilder;
import org.apache.storm.topology.base.BaseBasicBolt;
import org.apache.storm.tuple.Fields;

/**
 * The benchmark topology: LineSpout -> (fields grouping by host) -> HostCountBolt, each count
 * task wrapped in a TailsafeBolt (default record format) or not.
 *
 * <pre>
 *   BenchTopology NAME LOG TUPLES STATS_DIR wrapped|plain [WORKERS TASKS]
 * </pre>
 */
public final class BenchTopology {
  private BenchTopology() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 5) {
      System.err.println("usage: BenchTopology NAME LOG TUPLES STATS_DIR wrapped|plain [WORKERS TASKS]");
      System.exit(2);
    }
    boolean wrapped = args[4].equals("wrapped");
    int workers = args.length > 5 ? Integer.parseInt(args[5]) : 2;
    int tasks = args.length > 6 ? Integer.parseInt(args[6]) : 4;
    BaseBasicBolt count = new HostCountBolt(args[3]);
    IRichBolt bolt = wrapped ? new TailsafeBolt(count) : new org.apache.storm.topology.BasicBoltExecutor(count);
    TopologyBuilder builder = new TopologyBuilder();
    builder.setSpout("lines", new LineSpout(args[1], Long.parseLong(args[2])), 1);
    builder.setBolt("count", bolt, tasks).fieldsGrouping("lines", new Fields("host"));
    Config conf = new Config();
    conf.setNumWorkers(workers);
    conf.setNumAckers(0);
    StormSubmitter.submitTopology(args[0], conf, builder.createTopology());
  }
}
