package io.tailsafe.storm;

import java.util.TreeMap;

/**
 * The checkpoint of a bolt whose tuples are acked out of order: the lowest backup-file offset
 * whose record is not yet acked or failed.
 *
 * <p>Every record appended to the backup file is {@link #appended appended} here with its byte
 * range, in file order; when the wrapped bolt acks or fails its tuple, the record is {@link
 * #done done}. {@link #checkpoint} is where the bolt's unprocessed tail starts: every byte
 * before it has been handled, and a record after it may not have been. A record acked before
 * an older one is therefore not yet behind the checkpoint. Not thread-safe: a Storm executor
 * calls a bolt from one thread.
 */
public final class AckWatermark {
  private final TreeMap<Long, Long> inFlight = new TreeMap<>(); // start -> end, not yet done
  private long end;

  /** Starts at {@code start}: the end of what the file held before this task appended. */
  public AckWatermark(long start) {
    if (start < 0) throw new IllegalArgumentException("start " + start + " is negative");
    this.end = start;
  }

  /**
   * A record of the file, [{@code start}, {@code recordEnd}), handed to the bolt. Records come
   * in file order, each starting where the last one ended.
   */
  public void appended(long start, long recordEnd) {
    if (start != end) {
      throw new IllegalArgumentException("record at " + start + " does not start at the end of the last, " + end);
    }
    if (recordEnd <= start) {
      throw new IllegalArgumentException("record [" + start + ", " + recordEnd + ") is empty or reversed");
    }
    inFlight.put(start, recordEnd);
    end = recordEnd;
  }

  /**
   * The record at {@code start} was acked or failed (a failed tuple is Storm's to replay, not
   * the tail's). Returns false for a record not in flight (done already, or never appended).
   */
  public boolean done(long start) {
    return inFlight.remove(start) != null;
  }

  /** The lowest offset not yet acked or failed; the end of the file when nothing is in flight. */
  public long checkpoint() {
    return inFlight.isEmpty() ? end : inFlight.firstKey();
  }

  /** Records appended and not yet done. */
  public int inFlight() {
    return inFlight.size();
  }
}
