package io.tailsafe.storm;

/**
 * Where the tuple a bolt is executing sits in its backup file: the file's id (from its header,
 * {@link GenerationHeader}) and the record's byte range [start, end). A bolt that stores results
 * exactly once stores the ranges it counted in the same transaction as its results, so that
 * neither a restarted task nor tailsafe's recovery hook, which may get some of the same records
 * (a checkpoint is written after results are committed, not with them), counts a record twice.
 *
 * <p>{@link #current()} is set on the executor's thread for the duration of the wrapped bolt's
 * {@code execute} (by {@link TailsafeBolt} and by {@code tailsafe-storm-replay}); elsewhere it is
 * null, so a bolt that acks later must keep the position with the tuple.
 */
public record RecordPosition(String fileId, long start, long end) {
  private static final ThreadLocal<RecordPosition> CURRENT = new ThreadLocal<>();

  /** The record being executed on this thread, or null outside {@code execute}. */
  public static RecordPosition current() {
    return CURRENT.get();
  }

  static void set(RecordPosition p) {
    if (p == null) {
      CURRENT.remove();
    } else {
      CURRENT.set(p);
    }
  }
}
