package io.tailsafe.storm;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.storm.generated.Bolt;
import org.apache.storm.generated.ComponentCommon;
import org.apache.storm.generated.ComponentObject;
import org.apache.storm.generated.GlobalStreamId;
import org.apache.storm.generated.Grouping;
import org.apache.storm.generated.NullStruct;
import org.apache.storm.generated.StormTopology;
import org.apache.storm.generated.StreamInfo;
import org.apache.storm.metrics2.StormMetricRegistry;
import org.apache.storm.task.TopologyContext;
import org.apache.storm.tuple.Fields;

/**
 * A TopologyContext for running one bolt outside a worker (tailsafe-storm-replay, and the
 * tests): a topology of the bolt and the components that feed it, with their streams and
 * fields, as a worker would see it. Source component k's tasks are numbered from 1 + 1000 k;
 * the bolt's own task keeps its id.
 */
public final class StandaloneContext {
  private StandaloneContext() {}

  public static TopologyContext of(String topologyId, String component, int task, Map<String, Object> conf,
                                   List<TupleFormat.InputStream> inputs, String pidDir) {
    return of(topologyId, component, task, conf, inputs, pidDir, null);
  }

  /** The same with a code directory: where a ShellBolt's subprocess runs (its resources). */
  public static TopologyContext of(String topologyId, String component, int task, Map<String, Object> conf,
                                   List<TupleFormat.InputStream> inputs, String pidDir, String codeDir) {
    Map<String, Bolt> bolts = new HashMap<>();
    Map<String, Map<String, Fields>> fields = new HashMap<>();
    Map<GlobalStreamId, Grouping> myInputs = new HashMap<>();
    for (TupleFormat.InputStream in : inputs) {
      fields.computeIfAbsent(in.component(), k -> new HashMap<>()).put(in.stream(), new Fields(in.fields()));
      myInputs.put(new GlobalStreamId(in.component(), in.stream()), Grouping.shuffle(new NullStruct()));
    }
    Map<Integer, String> taskToComponent = new HashMap<>();
    Map<String, List<Integer>> componentTasks = new HashMap<>();
    int k = 0;
    for (String source : new TreeSet<>(fields.keySet())) {
      if (source.equals(component)) continue;
      Map<String, StreamInfo> streams = new HashMap<>();
      fields.get(source).forEach((stream, f) -> streams.put(stream, new StreamInfo(f.toList(), false)));
      bolts.put(source, new Bolt(ComponentObject.serialized_java(ByteBuffer.allocate(0)), new ComponentCommon(new HashMap<>(), streams)));
      int t = 1 + 1000 * ++k;
      taskToComponent.put(t, source);
      componentTasks.put(source, new ArrayList<>(List.of(t)));
    }
    Map<String, StreamInfo> ownStreams = new HashMap<>();
    Map<String, Fields> own = fields.get(component);
    if (own != null) own.forEach((stream, f) -> ownStreams.put(stream, new StreamInfo(f.toList(), false)));
    bolts.put(component, new Bolt(ComponentObject.serialized_java(ByteBuffer.allocate(0)), new ComponentCommon(myInputs, ownStreams)));
    taskToComponent.put(task, component);
    componentTasks.put(component, new ArrayList<>(List.of(task)));
    StormTopology topology = new StormTopology(new HashMap<>(), bolts, new HashMap<>());
    return new TopologyContext(topology, conf, taskToComponent, componentTasks, fields, new HashMap<>(), topologyId, codeDir, pidDir, task,
        0, new ArrayList<>(List.of(task)), new HashMap<>(), new HashMap<>(), new HashMap<>(), new HashMap<>(), new AtomicBoolean(false),
        new StormMetricRegistry());
  }
}
