package io.tailsafe.storm;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.apache.storm.serialization.KryoValuesDeserializer;
import org.apache.storm.serialization.KryoValuesSerializer;
import org.apache.storm.tuple.Tuple;

/**
 * The default record format: one line per tuple that keeps every value and its type.
 *
 * <pre>
 *   SOURCE_COMPONENT:SOURCE_TASK TAB STREAM TAB VALUE TAB VALUE ... NEWLINE
 * </pre>
 *
 * <p>Each value is a type letter and its text: {@code s} a String, {@code i} an Integer,
 * {@code l} a Long, {@code h} a Short, {@code y} a Byte, {@code d} a Double, {@code f} a Float
 * (Java's round-tripping decimal form), {@code b} a Boolean ({@code true} or {@code false}),
 * {@code n} null (no text), {@code B} a byte[] in base64, and {@code k} anything else as
 * base64 of Storm's own Kryo serialisation under the topology's configuration (the one Storm
 * uses between workers, so every value a topology can send has it). In the component, the
 * stream and a String, a backslash, tab, newline and carriage return are written {@code \\},
 * {@code \t}, {@code \n} and {@code \r}, so a record is always one line. Strings are UTF-8.
 *
 * <p>Example: {@code spout:3\tdefault\tsexample.com\tl1733443200000\tn}.
 */
public final class TypedLineFormat implements TupleFormat {
  private static final long serialVersionUID = 1L;

  private transient KryoValuesSerializer kryoOut;
  private transient KryoValuesDeserializer kryoIn;
  private transient Map<String, Object> conf;

  @Override
  public String name() {
    return "typed";
  }

  @Override
  public void prepare(Map<String, Object> topoConf) {
    this.conf = topoConf;
  }

  @Override
  public byte[] encode(Tuple tuple) {
    StringBuilder line = new StringBuilder(128);
    escape(tuple.getSourceComponent(), line);
    line.append(':').append(tuple.getSourceTask()).append('\t');
    escape(tuple.getSourceStreamId(), line);
    for (Object value : tuple.getValues()) {
      line.append('\t');
      encodeValue(value, line);
    }
    line.append('\n');
    return line.toString().getBytes(StandardCharsets.UTF_8);
  }

  private void encodeValue(Object v, StringBuilder out) {
    if (v == null) {
      out.append('n');
    } else if (v instanceof String s) {
      out.append('s');
      escape(s, out);
    } else if (v instanceof Integer i) {
      out.append('i').append(i.intValue());
    } else if (v instanceof Long l) {
      out.append('l').append(l.longValue());
    } else if (v instanceof Short h) {
      out.append('h').append(h.shortValue());
    } else if (v instanceof Byte y) {
      out.append('y').append(y.byteValue());
    } else if (v instanceof Double d) {
      out.append('d').append(d.doubleValue());
    } else if (v instanceof Float f) {
      out.append('f').append(f.floatValue());
    } else if (v instanceof Boolean b) {
      out.append('b').append(b.booleanValue());
    } else if (v instanceof byte[] bytes) {
      out.append('B').append(Base64.getEncoder().encodeToString(bytes));
    } else {
      if (kryoOut == null) kryoOut = new KryoValuesSerializer(requireConf());
      out.append('k').append(Base64.getEncoder().encodeToString(kryoOut.serializeObject(v)));
    }
  }

  @Override
  public Decoded decode(String line, List<InputStream> inputs) {
    List<String> parts = split(line);
    if (parts.size() < 2) throw new IllegalArgumentException("a typed record needs SOURCE:TASK and STREAM, found " + parts.size() + " field(s)");
    String source = parts.get(0);
    int colon = source.lastIndexOf(':');
    if (colon < 0) throw new IllegalArgumentException("the source '" + source + "' has no ':TASK'");
    int task;
    try {
      task = Integer.parseInt(source.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("the source task '" + source.substring(colon + 1) + "' is not a number");
    }
    List<Object> values = new ArrayList<>(parts.size() - 2);
    for (int i = 2; i < parts.size(); i++) {
      try {
        values.add(decodeValue(parts.get(i)));
      } catch (RuntimeException e) {
        throw new IllegalArgumentException("value " + (i - 1) + ": " + e.getMessage(), e);
      }
    }
    return new Decoded(unescape(source.substring(0, colon)), task, unescape(parts.get(1)), values);
  }

  private Object decodeValue(String text) {
    if (text.isEmpty()) throw new IllegalArgumentException("empty, with no type letter");
    String body = text.substring(1);
    switch (text.charAt(0)) {
      case 'n':
        if (!body.isEmpty()) throw new IllegalArgumentException("null with text '" + body + "'");
        return null;
      case 's': return unescape(body);
      case 'i': return Integer.valueOf(body);
      case 'l': return Long.valueOf(body);
      case 'h': return Short.valueOf(body);
      case 'y': return Byte.valueOf(body);
      case 'd': return Double.valueOf(body);
      case 'f': return Float.valueOf(body);
      case 'b':
        if (body.equals("true")) return Boolean.TRUE;
        if (body.equals("false")) return Boolean.FALSE;
        throw new IllegalArgumentException("boolean '" + body + "' is neither true nor false");
      case 'B': return Base64.getDecoder().decode(body);
      case 'k':
        if (kryoIn == null) kryoIn = new KryoValuesDeserializer(requireConf());
        return kryoIn.deserializeObject(Base64.getDecoder().decode(body));
      default:
        throw new IllegalArgumentException("unknown type letter '" + text.charAt(0) + "'");
    }
  }

  private Map<String, Object> requireConf() {
    if (conf == null) throw new IllegalStateException("TypedLineFormat.prepare was not called: Kryo needs the topology's configuration");
    return conf;
  }

  /** Splits on unescaped tabs (every tab in a record separates fields: escaped ones are "\t"). */
  private static List<String> split(String line) {
    List<String> parts = new ArrayList<>();
    int start = 0;
    for (int i = 0; i < line.length(); i++) {
      if (line.charAt(i) == '\t') {
        parts.add(line.substring(start, i));
        start = i + 1;
      }
    }
    parts.add(line.substring(start));
    return parts;
  }

  static void escape(String s, StringBuilder out) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '\\' -> out.append("\\\\");
        case '\t' -> out.append("\\t");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        default -> out.append(c);
      }
    }
  }

  static String unescape(String s) {
    if (s.indexOf('\\') < 0) return s;
    StringBuilder out = new StringBuilder(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c != '\\') {
        out.append(c);
        continue;
      }
      if (++i == s.length()) throw new IllegalArgumentException("a backslash ends the text");
      switch (s.charAt(i)) {
        case '\\' -> out.append('\\');
        case 't' -> out.append('\t');
        case 'n' -> out.append('\n');
        case 'r' -> out.append('\r');
        default -> throw new IllegalArgumentException("unknown escape '\\" + s.charAt(i) + "'");
      }
    }
    return out.toString();
  }
}
