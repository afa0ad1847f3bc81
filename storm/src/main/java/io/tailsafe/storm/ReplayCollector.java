package io.tailsafe.storm;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.storm.task.IOutputCollector;
import org.apache.storm.tuple.Tuple;

/**
 * The collector a replayed bolt is given: it counts acks and fails of the replayed tuples, and
 * records what the bolt emits (counted, and written as one line per tuple to {@code emitted} if
 * given: STREAM TAB the values' toString() joined by tabs). Nothing is sent anywhere: a replay
 * re-runs the bolt's own effects (the results it stores), not its place in the topology.
 */
final class ReplayCollector implements IOutputCollector {
  private final Set<Tuple> pending = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
  private final OutputStream emitted;
  private long emits;
  private long acks;
  private long fails;
  private long errors;
  private boolean closing;

  ReplayCollector(OutputStream emitted) {
    this.emitted = emitted;
  }

  synchronized void replaying(Tuple t) {
    pending.add(t);
  }

  synchronized void finished(Tuple t) {
    if (pending.remove(t)) acks++;
  }

  /** The bolt's cleanup begins: what it reports from now on (a ShellBolt's pipe closing) is not news. */
  synchronized void closing() {
    closing = true;
  }

  synchronized int pending() {
    return pending.size();
  }

  synchronized Map<String, Long> counts() {
    return Map.of("acked", acks, "failed", fails, "emitted", emits, "errors", errors);
  }

  @Override
  public synchronized List<Integer> emit(String streamId, Collection<Tuple> anchors, List<Object> tuple) {
    record(streamId, tuple);
    return List.of();
  }

  @Override
  public synchronized void emitDirect(int taskId, String streamId, Collection<Tuple> anchors, List<Object> tuple) {
    record(streamId, tuple);
  }

  private void record(String streamId, List<Object> tuple) {
    emits++;
    if (emitted == null) return;
    StringBuilder line = new StringBuilder();
    TypedLineFormat.escape(streamId, line);
    for (Object v : tuple) {
      line.append('\t');
      TypedLineFormat.escape(String.valueOf(v), line);
    }
    line.append('\n');
    try {
      emitted.write(line.toString().getBytes(StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write an emitted tuple: " + e.getMessage(), e);
    }
  }

  @Override
  public synchronized void ack(Tuple input) {
    if (pending.remove(input)) acks++;
  }

  @Override
  public synchronized void fail(Tuple input) {
    if (pending.remove(input)) fails++;
  }

  @Override
  public void resetTimeout(Tuple input) {}

  @Override
  public void flush() {}

  @Override
  public synchronized void reportError(Throwable error) {
    if (closing) return;
    errors++;
    System.err.println("tailsafe-storm-replay: the bolt reported an error: " + error);
  }
}
