package io.tailsafe.storm;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.apache.storm.tuple.Tuple;

/**
 * Records for tuples that already are log lines: one String field, written as it is, one line
 * per tuple. An access-log line received from a spout lands in the backup file exactly as the
 * web server wrote it, so any log analyser (the weblog's own {@code weblog-analyze}) can be the
 * recovery hook.
 *
 * <p>The field is the one named at construction, or the tuple's first. A trailing newline is
 * dropped; a newline or carriage return inside the line would split the record, so each is
 * written as a space and counted ({@link #rewritten}). Decoding gives the line back as a tuple
 * of the bolt's first input stream (a raw record does not say which stream it came from, so a
 * bolt with several input streams should use {@link TypedLineFormat}).
 */
public final class RawLineFormat implements TupleFormat {
  private static final long serialVersionUID = 1L;

  private final String field;
  private transient long rewritten;

  /** The tuple's first field. */
  public RawLineFormat() {
    this(null);
  }

  /** The tuple's field named {@code field}. */
  public RawLineFormat(String field) {
    this.field = field;
  }

  @Override
  public String name() {
    return field == null ? "raw" : "raw:" + field;
  }

  /** Lines whose inner newlines or carriage returns were written as spaces. */
  public long rewritten() {
    return rewritten;
  }

  @Override
  public byte[] encode(Tuple tuple) {
    Object value = field == null ? tuple.getValue(0) : tuple.getValueByField(field);
    if (!(value instanceof String line)) {
      throw new IllegalArgumentException("raw records need a String field, and " + (field == null ? "the first field" : "field '" + field + "'")
          + " of a tuple from " + tuple.getSourceComponent() + " is " + (value == null ? "null" : value.getClass().getName()));
    }
    int end = line.length();
    if (end > 0 && line.charAt(end - 1) == '\n') end--;
    if (end > 0 && line.charAt(end - 1) == '\r') end--;
    String body = line.substring(0, end);
    if (body.indexOf('\n') >= 0 || body.indexOf('\r') >= 0) {
      body = body.replace('\n', ' ').replace('\r', ' ');
      rewritten++;
    }
    byte[] text = body.getBytes(StandardCharsets.UTF_8);
    byte[] record = new byte[text.length + 1];
    System.arraycopy(text, 0, record, 0, text.length);
    record[text.length] = '\n';
    return record;
  }

  @Override
  public Decoded decode(String line, List<InputStream> inputs) {
    if (inputs.isEmpty()) throw new IllegalArgumentException("the bolt has no input stream to give a raw line to");
    InputStream in = inputs.get(0);
    Object[] values = new Object[Math.max(1, in.fields().size())];
    int index = field == null ? 0 : in.fields().indexOf(field);
    if (index < 0) throw new IllegalArgumentException("stream " + in.component() + ":" + in.stream() + " has no field '" + field + "'");
    values[index] = line;
    return new Decoded(in.component(), -1, in.stream(), java.util.Arrays.asList(values));
  }
}
