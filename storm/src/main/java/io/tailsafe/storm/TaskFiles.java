package io.tailsafe.storm;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * Where a task's files live, and what a task does with the file an earlier process left.
 *
 * <p>Layout, under the spool directory (tailsafe.conf(5)'s {@code [[bolt_pattern]]} rule
 * {@code SPOOL/*}{@code /*}{@code /task-*.log} finds them):
 * <pre>
 *   SPOOL/TOPOLOGY/COMPONENT/task-N.log          the backup file: a header, then one record per tuple
 *   SPOOL/TOPOLOGY/COMPONENT/task-N.pid          the pid of the process that runs the task
 *   SPOOL/TOPOLOGY/COMPONENT/task-N.checkpoint   where the unprocessed tail of task-N.log starts
 *   SPOOL/TOPOLOGY/COMPONENT/task-N.log.MILLIS   an earlier process's file
 * </pre>
 * A task is named by its topology's name, its component and its task id: Storm keeps task ids
 * across rebalances and worker restarts, while worker ports and hosts change. Directory names
 * keep letters, digits, '-' and '_' and write every other byte of the UTF-8 name as '.' and two
 * hex digits ({@link #dirName}), so distinct names never share a directory and the agent's bolt
 * name ({@link #boltName}: TOPOLOGY.COMPONENT.task-N) is a valid tailsafe name.
 *
 * <p><b>The restart rule.</b> A task restarted on this host (Storm relaunches a dead worker
 * within seconds) must never process bytes that tailsafe's hook, on another host, recovers
 * from the dead process's tail. So the new process never continues the old file: it renames it
 * to {@code task-N.log.MILLIS} and leaves it to tailsafe, which keeps the renamed file as the
 * same bolt's earlier generation and recovers its tail (if the checkpoint is behind its end, or
 * unreadable) from the dead process's checkpoint. The new process then creates a fresh
 * {@code task-N.log} (a new generation), resets the checkpoint to its header's end, and writes
 * the pid file last. Renamed files are never deleted here, processed or not: a tail may still be
 * on its way to a hook, and the files are the record of what reached the task (remove old ones
 * with a tmpfiles.d age). A pid file that still names a live process is waited for (the
 * supervisor stops an old worker before it starts the new one) and, past the wait, refused.
 */
public final class TaskFiles {
  public static final String LOG_SUFFIX = ".log";
  public static final String PID_SUFFIX = ".pid";
  public static final String CHECKPOINT_SUFFIX = ".checkpoint";
  /** The longest bolt name tailsafe accepts. */
  public static final int MAX_NAME = 128;

  public final Path dir;
  public final Path log;
  public final Path pid;
  public final CheckpointFile checkpoint;
  private final String boltName;

  private TaskFiles(Path dir, String stem, String boltName, boolean syncCheckpoints) {
    this.dir = dir;
    this.log = dir.resolve(stem + LOG_SUFFIX);
    this.pid = dir.resolve(stem + PID_SUFFIX);
    this.checkpoint = new CheckpointFile(dir.resolve(stem + CHECKPOINT_SUFFIX), syncCheckpoints);
    this.boltName = boltName;
  }

  /**
   * The files of task {@code task} of {@code component} in topology {@code topology}.
   *
   * @throws IllegalArgumentException if the names make a bolt name tailsafe cannot take
   */
  public static TaskFiles of(Path spool, String topology, String component, int task, boolean syncCheckpoints) {
    if (task < 0) throw new IllegalArgumentException("task id " + task + " is negative");
    String t = dirName(topology);
    String c = dirName(component);
    String stem = "task-" + task;
    String name = t + "." + c + "." + stem;
    if (name.length() > MAX_NAME) {
      throw new IllegalArgumentException("topology '" + topology + "' and component '" + component + "' make the bolt name '" + name
          + "', longer than tailsafe's " + MAX_NAME + " characters: shorten one of them");
    }
    return new TaskFiles(spool.resolve(t).resolve(c), stem, name, syncCheckpoints);
  }

  /** The name tailsafe-agent gives this task's bolt. */
  public String boltName() {
    return boltName;
  }

  /**
   * A topology or component name as one directory name (see the class comment). Letters, digits,
   * '_' and (after the first byte) '-' stay; any other byte is '.' and two hex digits, or '-' and
   * two hex digits as the first byte, so that no name starts with '.' (a hidden file, which a
   * pattern's '*' never matches) and distinct names never meet.
   */
  public static String dirName(String name) {
    if (name.isEmpty()) throw new IllegalArgumentException("an empty topology or component name");
    StringBuilder s = new StringBuilder(name.length());
    for (byte b : name.getBytes(StandardCharsets.UTF_8)) {
      char c = (char) (b & 0xff);
      boolean first = s.length() == 0;
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || (c == '-' && !first)) {
        s.append(c);
      } else {
        s.append(first ? '-' : '.').append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16));
      }
    }
    return s.toString();
  }

  /** What starting found of an earlier process's file. */
  public enum Previous {
    /** No file: the task's first start on this host. */
    NONE,
    /** A file whose checkpoint was at its end: renamed. */
    PROCESSED,
    /** A file with a tail (or no readable checkpoint): renamed and left to tailsafe. */
    TAIL
  }

  /** The result of {@link #start}. */
  public record Started(BackupAppender appender, Previous previous, Path renamedTo, long previousCheckpoint, long previousSize) {}

  /**
   * Applies the restart rule and creates a fresh backup file that starts with {@code header}.
   * The pid file is not written here ({@link #writePid}): the caller writes it once the
   * process it names runs.
   */
  public Started start(String header, Duration waitForPrevious) throws IOException {
    Files.createDirectories(dir);
    waitForPreviousProcess(waitForPrevious);
    Previous previous = Previous.NONE;
    Path renamedTo = null;
    long size = -1;
    OptionalLong cp = OptionalLong.empty();
    try {
      size = Files.size(log);
      cp = checkpoint.read();
      renamedTo = freeRotatedName();
      Files.move(log, renamedTo, StandardCopyOption.ATOMIC_MOVE);
      previous = cp.isPresent() && cp.getAsLong() == size ? Previous.PROCESSED : Previous.TAIL;
    } catch (NoSuchFileException e) {
      // The task's first start on this host.
    }
    byte[] head = header.getBytes(StandardCharsets.UTF_8);
    try {
      Files.write(log, head, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
    } catch (FileAlreadyExistsException e) {
      throw new IOException(log + " appeared while this task was starting: is another process running task " + boltName + "?", e);
    }
    checkpoint.write(head.length);
    return new Started(new BackupAppender(log, head.length), previous, renamedTo, cp.orElse(-1), size);
  }

  /** Writes the pid file atomically: a temporary file renamed over it. */
  public void writePid(long processId) throws IOException {
    Path temp = pid.resolveSibling(pid.getFileName() + ".tmp");
    Files.writeString(temp, processId + "\n", StandardCharsets.US_ASCII);
    Files.move(temp, pid, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }

  private Path freeRotatedName() {
    long millis = System.currentTimeMillis();
    Path p = dir.resolve(log.getFileName() + "." + millis);
    for (int k = 2; Files.exists(p); k++) p = dir.resolve(log.getFileName() + "." + millis + "-" + k);
    return p;
  }

  /** The process the pid file names, if it still runs, is not this one, and wrote the file. */
  Optional<ProcessHandle> previousProcess() throws IOException {
    String text;
    FileTime written;
    try {
      text = Files.readString(pid, StandardCharsets.US_ASCII).trim();
      written = Files.getLastModifiedTime(pid);
    } catch (NoSuchFileException e) {
      return Optional.empty();
    } catch (java.nio.charset.MalformedInputException e) {
      return Optional.empty();
    }
    long p;
    try {
      p = Long.parseLong(text);
    } catch (NumberFormatException e) {
      return Optional.empty();
    }
    if (p == ProcessHandle.current().pid()) return Optional.empty();
    Optional<ProcessHandle> h = ProcessHandle.of(p);
    if (h.isEmpty() || !h.get().isAlive()) return Optional.empty();
    // A process started after the pid file was written got a reused number: not the task's.
    Optional<Instant> started = h.get().info().startInstant();
    if (started.isPresent() && started.get().isAfter(written.toInstant())) return Optional.empty();
    return h;
  }

  private void waitForPreviousProcess(Duration wait) throws IOException {
    Instant deadline = Instant.now().plus(wait);
    Optional<ProcessHandle> h;
    while ((h = previousProcess()).isPresent()) {
      if (Instant.now().isAfter(deadline)) {
        throw new IOException("process " + h.get().pid() + ", named by " + pid + ", still runs task " + boltName + " after "
            + wait.toSeconds() + " s: two processes must not write one backup file");
      }
      try {
        h.get().onExit().get(200, java.util.concurrent.TimeUnit.MILLISECONDS);
      } catch (java.util.concurrent.TimeoutException e) {
        // Look again until the deadline.
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted while waiting for process " + h.get().pid() + " to end", e);
      } catch (java.util.concurrent.ExecutionException e) {
        // onExit failed: look again.
      }
    }
  }
}
