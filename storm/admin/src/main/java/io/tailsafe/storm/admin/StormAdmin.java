package io.tailsafe.storm.admin;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.storm.Config;
import org.apache.storm.generated.ExecutorSummary;
import org.apache.storm.generated.KillOptions;
import org.apache.storm.generated.Nimbus;
import org.apache.storm.generated.NotAliveException;
import org.apache.storm.generated.RebalanceOptions;
import org.apache.storm.generated.SupervisorSummary;
import org.apache.storm.generated.TopologySummary;
import org.apache.storm.utils.NimbusClient;
import org.apache.storm.utils.Utils;

/**
 * A small Nimbus client for the tests, the demo and the benchmark.
 *
 * <pre>
 *   StormAdmin HOST:PORT supervisors                  one line each: id host used/slots
 *   StormAdmin HOST:PORT wait-supervisors N SECONDS   until N supervisors are registered
 *   StormAdmin HOST:PORT placement TOPOLOGY           one line per task: component task host:port ("?" unplaced)
 *   StormAdmin HOST:PORT rebalance TOPOLOGY WAIT_SECONDS WORKERS
 *   StormAdmin HOST:PORT kill TOPOLOGY WAIT_SECONDS   and waits (60 s at most) until it is gone
 * </pre>
 * Exit status 0 on success, 1 on a timeout or a Nimbus error (said on standard error), 2 for a
 * usage error. Waits poll every 250 ms up to their deadline.
 */
public final class StormAdmin {
  private StormAdmin() {}

  public static void main(String[] args) {
    if (args.length < 2) {
      System.err.println("usage: StormAdmin HOST:PORT supervisors | wait-supervisors N SECONDS | placement TOPOLOGY"
          + " | rebalance TOPOLOGY WAIT_SECONDS WORKERS | kill TOPOLOGY WAIT_SECONDS");
      System.exit(2);
    }
    int colon = args[0].lastIndexOf(':');
    if (colon <= 0) {
      System.err.println("StormAdmin: '" + args[0] + "' is not HOST:PORT");
      System.exit(2);
    }
    Map<String, Object> conf = new HashMap<>(Utils.readDefaultConfig());
    conf.put(Config.NIMBUS_SEEDS, List.of(args[0].substring(0, colon)));
    conf.put(Config.NIMBUS_THRIFT_PORT, Integer.parseInt(args[0].substring(colon + 1)));
    int[] rc = {1};
    try {
      NimbusClient.withConfiguredClient(nimbus -> rc[0] = run(nimbus, args), conf);
    } catch (Exception e) {
      System.err.println("StormAdmin: " + e);
      rc[0] = 1;
    }
    System.exit(rc[0]);
  }

  private static int run(Nimbus.Iface n, String[] a) throws Exception {
    switch (a[1]) {
      case "supervisors" -> {
        for (SupervisorSummary s : n.getClusterInfo().get_supervisors()) {
          System.out.println(s.get_supervisor_id() + " " + s.get_host() + " " + s.get_num_used_workers() + "/" + s.get_num_workers());
        }
        return 0;
      }
      case "wait-supervisors" -> {
        int want = Integer.parseInt(a[2]);
        long deadline = System.nanoTime() + Long.parseLong(a[3]) * 1_000_000_000L;
        while (true) {
          int have = n.getClusterInfo().get_supervisors_size();
          if (have >= want) return 0;
          if (System.nanoTime() > deadline) {
            System.err.println("StormAdmin: " + have + " supervisors registered after " + a[3] + " s, not " + want);
            return 1;
          }
          Thread.sleep(250);
        }
      }
      case "placement" -> {
        placement(n, a[2]).forEach(System.out::println);
        return 0;
      }
      case "rebalance" -> {
        RebalanceOptions options = new RebalanceOptions();
        options.set_wait_secs(Integer.parseInt(a[3]));
        options.set_num_workers(Integer.parseInt(a[4]));
        n.rebalance(a[2], options);
        return 0;
      }
      case "kill" -> {
        KillOptions options = new KillOptions();
        options.set_wait_secs(Integer.parseInt(a[3]));
        n.killTopologyWithOpts(a[2], options);
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (System.nanoTime() < deadline) {
          if (n.getTopologySummaries().stream().noneMatch(t -> t.get_name().equals(a[2]))) return 0;
          Thread.sleep(250);
        }
        System.err.println("StormAdmin: topology " + a[2] + " still there 60 s after it was killed");
        return 1;
      }
      default -> {
        System.err.println("StormAdmin: unknown command '" + a[1] + "'");
        return 2;
      }
    }
  }

  /** "component task host:port" per task of the topology's own components, sorted. */
  static List<String> placement(Nimbus.Iface n, String topology) throws Exception {
    TopologySummary summary;
    try {
      summary = n.getTopologySummaryByName(topology);
    } catch (NotAliveException e) {
      return List.of();
    }
    List<String> out = new ArrayList<>();
    for (ExecutorSummary e : n.getTopologyInfo(summary.get_id()).get_executors()) {
      if (e.get_component_id().startsWith("__")) continue;
      String where = e.get_host() == null || e.get_host().isEmpty() ? "?" : e.get_host() + ":" + e.get_port();
      for (int t = e.get_executor_info().get_task_start(); t <= e.get_executor_info().get_task_end(); t++) {
        out.add(e.get_component_id() + " " + t + " " + where);
      }
    }
    out.sort(null);
    return out;
  }
}
