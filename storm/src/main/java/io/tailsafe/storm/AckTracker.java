package io.tailsafe.storm;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.List;
import org.apache.storm.task.IOutputCollector;
import org.apache.storm.tuple.Tuple;

/**
 * The collector a wrapped bolt is given: it passes everything to Storm's, and turns acks and
 * fails into the task's checkpoint. Each appended tuple's record start is kept until the bolt
 * acks or fails the tuple ({@link AckWatermark} gives the lowest offset still in flight); the
 * checkpoint file is rewritten every {@code every} finished tuples and on {@link #checkpointNow}
 * (a tick, cleanup), when it moved. Acks may come from another thread than execute (Storm allows
 * a bolt to ack later), so the bookkeeping is synchronised; an uncontended lock costs tens of ns.
 */
final class AckTracker implements IOutputCollector {
  private final IOutputCollector storm;
  private final CheckpointFile checkpoint;
  private final int every;
  private final AckWatermark watermark;
  private final IdentityHashMap<Tuple, Long> starts = new IdentityHashMap<>();
  private long written;
  private int sinceWrite;
  private long checkpoints;

  AckTracker(IOutputCollector storm, CheckpointFile checkpoint, long start, int every) {
    this.storm = storm;
    this.checkpoint = checkpoint;
    this.every = every;
    this.watermark = new AckWatermark(start);
    this.written = start;
  }

  /** The tuple's record is [start, end) of the file; the wrapped bolt has not seen it yet. */
  synchronized void appended(Tuple tuple, long start, long end) {
    watermark.appended(start, end);
    starts.put(tuple, start);
  }

  /** The tuple is finished (acked, failed, or returned from execute in on-return mode). */
  synchronized void finished(Tuple tuple) {
    Long start = starts.remove(tuple);
    if (start == null) return; // not appended (a tick), or finished already
    watermark.done(start);
    if (++sinceWrite >= every) writeIfMoved();
  }

  /** Writes the checkpoint now if it moved since the last write. */
  synchronized void checkpointNow() {
    writeIfMoved();
  }

  synchronized long checkpoint() {
    return watermark.checkpoint();
  }

  synchronized int inFlight() {
    return watermark.inFlight();
  }

  synchronized long checkpointsWritten() {
    return checkpoints;
  }

  private void writeIfMoved() {
    sinceWrite = 0;
    long offset = watermark.checkpoint();
    if (offset == written) return;
    try {
      checkpoint.write(offset);
    } catch (IOException e) {
      // A checkpoint that cannot be written leaves the old one, which is behind: safe, but the
      // operator must hear of it. Storm reports errors thrown by execute.
      throw new UncheckedIOException("cannot write the checkpoint " + checkpoint.path() + ": " + e.getMessage(), e);
    }
    written = offset;
    checkpoints++;
  }

  @Override
  public List<Integer> emit(String streamId, Collection<Tuple> anchors, List<Object> tuple) {
    return storm.emit(streamId, anchors, tuple);
  }

  @Override
  public void emitDirect(int taskId, String streamId, Collection<Tuple> anchors, List<Object> tuple) {
    storm.emitDirect(taskId, streamId, anchors, tuple);
  }

  @Override
  public void ack(Tuple input) {
    storm.ack(input);
    finished(input);
  }

  @Override
  public void fail(Tuple input) {
    storm.fail(input);
    finished(input);
  }

  @Override
  public void resetTimeout(Tuple input) {
    storm.resetTimeout(input);
  }

  @Override
  public void flush() {
    storm.flush();
  }

  @Override
  public void reportError(Throwable error) {
    storm.reportError(error);
  }
}
