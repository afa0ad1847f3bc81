package io.tailsafe.examples.weblog;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.storm.spout.SpoutOutputCollector;
import org.apache.storm.task.TopologyContext;
import org.apache.storm.topology.OutputFieldsDeclarer;
import org.apache.storm.topology.base.BaseRichSpout;
import org.apache.storm.tuple.Fields;
import org.apache.storm.tuple.Values;

/**
 * Reads an access log and emits each line as ("host", "line"), unanchored: acking is off, as a
 * speed-first topology runs. The target host (the virtual host of a vhost_combined line, else
 * "-") is for the fields grouping only; the bolt parses the line itself.
 *
 * <p>Where it got to is kept in a position file, written before a batch of lines is emitted
 * (at most once): a restarted spout goes on from there, so it never emits a line twice, and the
 * lines of a batch that were in flight when its worker died are lost in transit, the loss that
 * tailsafe cannot see (they reached no backup file) and the tests count apart. {@code rate}
 * caps the lines emitted per second (0: no cap). At the end of the file it waits for more.
 */
public class AccessLogSpout extends BaseRichSpout {
  private static final long serialVersionUID = 1L;
  private static final int BATCH = 500;

  private final String log;
  private final String positionFile;
  private final long rate;

  private transient SpoutOutputCollector collector;
  private transient RandomAccessFile in;
  private transient List<String> batch;
  private transient int next;
  private transient long emitted;
  private transient long started;

  public AccessLogSpout(String log, String positionFile, long rate) {
    this.log = log;
    this.positionFile = positionFile;
    this.rate = rate;
  }

  @Override
  public void open(Map<String, Object> conf, TopologyContext context, SpoutOutputCollector c) {
    collector = c;
    batch = new ArrayList<>();
    try {
      in = new RandomAccessFile(log, "r");
      in.seek(readPosition());
    } catch (IOException e) {
      throw new UncheckedIOException("access-log spout: cannot open " + log + ": " + e.getMessage(), e);
    }
    started = System.nanoTime();
  }

  private long readPosition() throws IOException {
    try {
      return Long.parseLong(Files.readString(Path.of(positionFile)).trim());
    } catch (NoSuchFileException e) {
      return 0;
    } catch (NumberFormatException e) {
      throw new IOException("the position file " + positionFile + " does not hold a number");
    }
  }

  private void writePosition(long offset) throws IOException {
    Path p = Path.of(positionFile);
    Path tmp = p.resolveSibling(p.getFileName() + ".tmp");
    Files.writeString(tmp, offset + "\n");
    Files.move(tmp, p, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }

  @Override
  public void nextTuple() {
    if (rate > 0 && emitted * 1_000_000_000L / rate > System.nanoTime() - started) return;
    if (next == batch.size() && !fill()) return;
    String line = batch.get(next++);
    emitted++;
    collector.emit(new Values(hostOf(line), line));
  }

  /** Reads the next batch of whole lines and records the position after it; false at the end. */
  private boolean fill() {
    try {
      batch.clear();
      next = 0;
      long before = in.getFilePointer();
      byte[] buf = new byte[1 << 16];
      int n = in.read(buf);
      if (n <= 0) return false;
      int used = 0;
      for (int i = 0; i < n && batch.size() < BATCH; i++) {
        if (buf[i] == '\n') {
          batch.add(new String(buf, used, i - used, StandardCharsets.UTF_8));
          used = i + 1;
        }
      }
      in.seek(before + used); // a partial line waits for its newline
      if (batch.isEmpty()) return false;
      writePosition(before + used);
      return true;
    } catch (IOException e) {
      throw new UncheckedIOException("access-log spout: reading " + log + ": " + e.getMessage(), e);
    }
  }

  /** The virtual host of a vhost_combined line (the first field, without a port), else "-". */
  static String hostOf(String line) {
    int sp = line.indexOf(' ');
    if (sp <= 0) return "-";
    int fourth = nthSpace(line, 4);
    if (fourth < 0 || fourth + 1 >= line.length() || line.charAt(fourth + 1) != '[') return "-";
    String host = line.substring(0, sp);
    int colon = host.lastIndexOf(':');
    return colon > 0 ? host.substring(0, colon) : host;
  }

  private static int nthSpace(String s, int n) {
    int at = -1;
    for (int k = 0; k < n; k++) {
      at = s.indexOf(' ', at + 1);
      if (at < 0) return -1;
    }
    return at;
  }

  @Override
  public void declareOutputFields(OutputFieldsDeclarer declarer) {
    declarer.declare(new Fields("host", "line"));
  }

  @Override
  public void close() {
    try {
      if (in != null) in.close();
    } catch (IOException e) {
      // closing a file we only read
    }
  }
}
