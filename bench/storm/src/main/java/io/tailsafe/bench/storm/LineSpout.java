package io.tailsafe.bench.storm;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.storm.spout.SpoutOutputCollector;
import org.apache.storm.task.TopologyContext;
import org.apache.storm.topology.OutputFieldsDeclarer;
import org.apache.storm.topology.base.BaseRichSpout;
import org.apache.storm.tuple.Fields;
import org.apache.storm.tuple.Values;

/**
 * Emits ("host", "line") as fast as Storm takes them, cycling over an access log held in
 * memory, until it has emitted {@code total} tuples; unanchored (acking off). The reading is
 * done in open, so the measured time is Storm's and the bolts'.
 */
public class LineSpout extends BaseRichSpout {
  private static final long serialVersionUID = 1L;
  private final String log;
  private final long total;
  private transient SpoutOutputCollector collector;
  private transient List<String> lines;
  private transient List<String> hosts;
  private transient long emitted;

  public LineSpout(String log, long total) {
    this.log = log;
    this.total = total;
  }

  @Override
  public void open(Map<String, Object> conf, TopologyContext context, SpoutOutputCollector c) {
    collector = c;
    try {
      lines = Files.readAllLines(Path.of(log), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + log, e);
    }
    if (lines.isEmpty()) throw new IllegalArgumentException(log + " is empty");
    hosts = lines.stream().map(l -> {
      int sp = l.indexOf(' ');
      return sp > 0 ? l.substring(0, sp) : "-";
    }).toList();
  }

  @Override
  public void nextTuple() {
    if (emitted >= total) return;
    int i = (int) (emitted % lines.size());
    collector.emit(new Values(hosts.get(i), lines.get(i)));
    emitted++;
  }

  @Override
  public void declareOutputFields(OutputFieldsDeclarer declarer) {
    declarer.declare(new Fields("host", "line"));
  }
}
