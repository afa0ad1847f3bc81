package io.tailsafe.storm;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Appends records to one backup file, one write(2) each, with nothing buffered in the JVM: once
 * {@link #append} returns, the record is in the kernel's page cache, where the agent reads it
 * and from where it survives the death of this process. The task is the file's only writer, so
 * the offsets it hands out are the records' places in the file.
 */
final class BackupAppender implements Closeable {
  private final Path path;
  private final FileChannel channel;
  private long end;

  /** Opens {@code path}, which this task created, for appending at {@code size}. */
  BackupAppender(Path path, long size) throws IOException {
    this.path = path;
    this.channel = FileChannel.open(path, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
    this.end = size;
  }

  Path path() {
    return path;
  }

  /** The end of the file: where the next record goes. */
  long end() {
    return end;
  }

  /** Appends one record; returns its start offset. */
  long append(byte[] record) throws IOException {
    long start = end;
    ByteBuffer buf = ByteBuffer.wrap(record);
    while (buf.hasRemaining()) channel.write(buf);
    end += record.length;
    return start;
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }
}
