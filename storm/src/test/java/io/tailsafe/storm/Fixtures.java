package io.tailsafe.storm;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.storm.Config;
import org.apache.storm.Constants;
import org.apache.storm.task.IOutputCollector;
import org.apache.storm.task.TopologyContext;
import org.apache.storm.tuple.Tuple;
import org.apache.storm.tuple.TupleImpl;
import org.apache.storm.utils.Utils;

/** Contexts, tuples and a recording collector for the module's tests. */
final class Fixtures {
  private Fixtures() {}

  static final List<TupleFormat.InputStream> INPUTS = List.of(new TupleFormat.InputStream("spout", "default", List.of("host", "n")));

  static Map<String, Object> conf(String topology) {
    Map<String, Object> conf = new HashMap<>(Utils.readDefaultConfig());
    conf.put(Config.TOPOLOGY_NAME, topology);
    conf.put(Config.STORM_CLUSTER_MODE, "distributed");
    return conf;
  }

  static TopologyContext context(Map<String, Object> conf, String component, int task, Path pidDir) {
    return StandaloneContext.of("weblog-1-1700000000", component, task, conf, INPUTS, pidDir.toString());
  }

  static Tuple tuple(TopologyContext context, String host, long n) {
    return new TupleImpl(context, new ArrayList<>(List.of(host, n)), "spout", 3, "default");
  }

  static Tuple tick(TopologyContext context) {
    return new TupleImpl(context, new ArrayList<>(List.of(1)), Constants.SYSTEM_COMPONENT_ID, (int) Constants.SYSTEM_TASK_ID,
        Constants.SYSTEM_TICK_STREAM_ID);
  }

  /** Records what reaches Storm's collector. */
  static final class Recorder implements IOutputCollector {
    final List<Tuple> acked = new ArrayList<>();
    final List<Tuple> failed = new ArrayList<>();
    final List<List<Object>> emitted = new ArrayList<>();
    final List<Throwable> errors = new ArrayList<>();

    @Override
    public List<Integer> emit(String streamId, Collection<Tuple> anchors, List<Object> tuple) {
      emitted.add(tuple);
      return List.of();
    }

    @Override
    public void emitDirect(int taskId, String streamId, Collection<Tuple> anchors, List<Object> tuple) {
      emitted.add(tuple);
    }

    @Override
    public void ack(Tuple input) {
      acked.add(input);
    }

    @Override
    public void fail(Tuple input) {
      failed.add(input);
    }

    @Override
    public void resetTimeout(Tuple input) {}

    @Override
    public void flush() {}

    @Override
    public void reportError(Throwable error) {
      errors.add(error);
    }
  }
}
