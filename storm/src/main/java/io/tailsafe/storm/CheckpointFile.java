package io.tailsafe.storm;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.OptionalLong;

/**
 * A task's checkpoint file, in tailsafe's format (common/checkpoint.h): the byte offset of the
 * backup file where the unprocessed tail starts, decimal, one line, replaced atomically (a
 * temporary file beside it, renamed over it), so the agent reads the old offset or the new one,
 * never a mix.
 *
 * <p>By default the file is not fsynced: a reader on the same host sees a rename at once, the
 * agent ships every offset it reads to its peers, and a host that lost its page cache restarts
 * its tasks, which rotate away a file whose checkpoint is behind or unreadable
 * ({@link TaskFiles}). {@code sync} adds the fsync of the file and of the directory, at the cost
 * of two disk flushes on the executor's thread per checkpoint.
 */
public final class CheckpointFile {
  private final Path path;
  private final Path temp;
  private final boolean sync;

  public CheckpointFile(Path path, boolean sync) {
    this.path = path;
    this.temp = path.resolveSibling(path.getFileName() + ".tmp");
    this.sync = sync;
  }

  public Path path() {
    return path;
  }

  public void write(long offset) throws IOException {
    byte[] text = (offset + "\n").getBytes(StandardCharsets.US_ASCII);
    try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.WRITE, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING)) {
      ByteBuffer buf = ByteBuffer.wrap(text);
      while (buf.hasRemaining()) ch.write(buf);
      if (sync) ch.force(true);
    }
    try {
      Files.move(temp, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      throw new IOException("cannot replace " + path + " atomically: " + e.getMessage(), e);
    }
    if (sync) syncDirectory(path.getParent());
  }

  /** The offset the file holds, or empty if it is missing or does not hold one offset. */
  public OptionalLong read() throws IOException {
    String text;
    try {
      text = Files.readString(path, StandardCharsets.US_ASCII).trim();
    } catch (NoSuchFileException e) {
      return OptionalLong.empty();
    } catch (java.nio.charset.MalformedInputException e) {
      return OptionalLong.empty();
    }
    if (text.isEmpty() || text.length() > 19 || !text.chars().allMatch(Character::isDigit)) return OptionalLong.empty();
    return OptionalLong.of(Long.parseLong(text));
  }

  static void syncDirectory(Path dir) throws IOException {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    }
  }
}
