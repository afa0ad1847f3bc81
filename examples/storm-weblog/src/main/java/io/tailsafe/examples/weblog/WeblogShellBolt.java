package io.tailsafe.examples.weblog;

import java.util.Map;
import org.apache.storm.Config;
import org.apache.storm.task.ShellBolt;
import org.apache.storm.topology.IRichBolt;
import org.apache.storm.topology.OutputFieldsDeclarer;

/**
 * The counting bolt: Storm's ShellBolt running weblog-storm-bolt (the weblog's own C++ analysis,
 * speaking Storm's multilang protocol), with a tick a second, on which it commits what it holds.
 */
public class WeblogShellBolt extends ShellBolt implements IRichBolt {
  private static final long serialVersionUID = 1L;

  public WeblogShellBolt(String... command) {
    super(command);
  }

  @Override
  public void declareOutputFields(OutputFieldsDeclarer declarer) {}

  @Override
  public Map<String, Object> getComponentConfiguration() {
    return Map.of(Config.TOPOLOGY_TICK_TUPLE_FREQ_SECS, 1);
  }
}
