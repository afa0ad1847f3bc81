package io.tailsafe.storm;

import java.io.Serializable;
import java.util.List;
import java.util.Map;
import org.apache.storm.tuple.Tuple;

/**
 * How a tuple becomes one record of a backup file, and back.
 *
 * <p>A record is one line: {@link #encode} returns bytes that end with a single {@code '\n'}
 * and hold no other. tailsafe recovers whole lines only (a line cut by a crash waits), so a
 * record that spanned two lines could be recovered in half. The same format object, carried
 * in each file's header, decodes the lines of a recovered tail for {@code tailsafe-storm-replay}.
 *
 * <p>Two formats ship: {@link TypedLineFormat}, the default, which keeps every value and its
 * type; and {@link RawLineFormat}, for tuples that already are log lines.
 */
public interface TupleFormat extends Serializable {
  /** A short name for the file header and messages, such as "typed" or "raw". */
  String name();

  /** Called once before the first encode or decode, with the topology's configuration. */
  default void prepare(Map<String, Object> topoConf) {}

  /** The record for {@code tuple}: one line, ending in {@code '\n'}. */
  byte[] encode(Tuple tuple);

  /**
   * The tuple a record held, from the line without its newline; {@code inputs} names the
   * bolt's input streams (for formats whose lines do not say which stream they came from).
   *
   * @throws IllegalArgumentException naming what is wrong with the line
   */
  Decoded decode(String line, List<InputStream> inputs);

  /** A decoded record. */
  record Decoded(String sourceComponent, int sourceTask, String streamId, List<Object> values) {}

  /** One input stream of a bolt, with its fields in order. */
  record InputStream(String component, String stream, List<String> fields) implements Serializable {}
}
