package io.tailsafe.bench.storm;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HashMap;
import java.util.Map;
import org.apache.storm.Config;
import org.apache.storm.task.TopologyContext;
import org.apache.storm.topology.BasicOutputCollector;
import org.apache.storm.topology.OutputFieldsDeclarer;
import org.apache.storm.topology.base.BaseBasicBolt;
import org.apache.storm.tuple.Tuple;
import org.apache.storm.utils.TupleUtils;

/**
 * Counts requests per host in memory: a cheap Java bolt, so that what the wrapper costs shows.
 * Every second (a tick) it writes STATS/task-N: "tuples first_ms last_ms", the wall-clock
 * times of its first and latest tuple, which the benchmark driver adds up.
 */
public class HostCountBolt extends BaseBasicBolt {
  private static final long serialVersionUID = 1L;
  private final String stats;
  private transient Map<String, Long> counts;
  private transient long tuples;
  private transient long first;
  private transient long last;
  private transient Path file;

  public HostCountBolt(String stats) {
    this.stats = stats;
  }

  @Override
  public void prepare(Map<String, Object> conf, TopologyContext context) {
    counts = new HashMap<>();
    file = Path.of(stats, "task-" + context.getThisTaskId());
  }

  @Override
  public void execute(Tuple input, BasicOutputCollector collector) {
    if (TupleUtils.isTick(input)) {
      write();
      return;
    }
    long now = System.currentTimeMillis();
    if (tuples++ == 0) first = now;
    last = now;
    counts.merge(input.getString(0), 1L, Long::sum);
  }

  private void write() {
    try {
      Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
      Files.writeString(tmp, tuples + " " + first + " " + last + "\n");
      Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public void declareOutputFields(OutputFieldsDeclarer declarer) {}

  @Override
  public Map<String, Object> getComponentConfiguration() {
    return Map.of(Config.TOPOLOGY_TICK_TUPLE_FREQ_SECS, 1);
  }
}
