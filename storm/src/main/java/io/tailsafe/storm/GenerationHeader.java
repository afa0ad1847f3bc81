package io.tailsafe.storm;

import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The first line of every backup file a task writes: which file this is and what wrote it.
 *
 * <pre>
 *   #tailsafe-storm v=1 file=FILE_ID topology=NAME component=ID task=N format=NAME [spec=BASE64]
 * </pre>
 *
 * <p>{@code file} is 16 random hex digits, new for every file: with a byte offset it names a
 * record for good, however the file is renamed, replicated or recovered, which is what a bolt
 * that stores results exactly once keys them by ({@link RecordPosition}). The topology, the
 * component and the format are URL-encoded (no space, tab or newline can occur). {@code spec},
 * when the task's bolt could be serialised, is the base64 of its {@link TaskSpec}. The line
 * starts with '#', so log readers take it for a comment; {@code tailsafe-storm-replay} and
 * {@code weblog-analyze} skip it in a tail and read it from the file's start.
 */
public final class GenerationHeader {
  public static final String PREFIX = "#tailsafe-storm ";
  private static final SecureRandom RANDOM = new SecureRandom();

  public final String fileId;
  public final String topology;
  public final String component;
  public final int task;
  public final String format;
  public final byte[] spec; // null when absent

  public GenerationHeader(String fileId, String topology, String component, int task, String format, byte[] spec) {
    this.fileId = fileId;
    this.topology = topology;
    this.component = component;
    this.task = task;
    this.format = format;
    this.spec = spec;
  }

  /** 16 lowercase hex digits from a secure random source. */
  public static String newFileId() {
    byte[] b = new byte[8];
    RANDOM.nextBytes(b);
    return HexFormat.of().formatHex(b);
  }

  /** The header line, newline included. */
  public String line() {
    StringBuilder s = new StringBuilder(PREFIX).append("v=1 file=").append(fileId)
        .append(" topology=").append(enc(topology)).append(" component=").append(enc(component))
        .append(" task=").append(task).append(" format=").append(enc(format));
    if (spec != null) s.append(" spec=").append(Base64.getEncoder().encodeToString(spec));
    return s.append('\n').toString();
  }

  /** True for a header line (with or without its newline). */
  public static boolean isHeader(String line) {
    return line.startsWith(PREFIX);
  }

  /**
   * Parses a header line (without its newline).
   *
   * @throws IllegalArgumentException naming what is wrong
   */
  public static GenerationHeader parse(String line) {
    if (!isHeader(line)) throw new IllegalArgumentException("not a tailsafe-storm header: it does not start with '" + PREFIX.trim() + "'");
    Map<String, String> kv = new LinkedHashMap<>();
    for (String token : line.substring(PREFIX.length()).trim().split(" +")) {
      int eq = token.indexOf('=');
      if (eq <= 0) throw new IllegalArgumentException("header token '" + Printable.of(token) + "' is not KEY=VALUE");
      kv.put(token.substring(0, eq), token.substring(eq + 1));
    }
    if (!"1".equals(kv.get("v"))) throw new IllegalArgumentException("header version '" + Printable.of(String.valueOf(kv.get("v"))) + "' is not 1");
    String fileId = need(kv, "file");
    if (!fileId.matches("[0-9a-f]{16}")) throw new IllegalArgumentException("header file id '" + Printable.of(fileId) + "' is not 16 hex digits");
    int task;
    try {
      task = Integer.parseInt(need(kv, "task"));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("header task '" + Printable.of(kv.get("task")) + "' is not a number");
    }
    byte[] spec = null;
    if (kv.containsKey("spec")) {
      try {
        spec = Base64.getDecoder().decode(kv.get("spec"));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("header spec is not base64: " + e.getMessage());
      }
    }
    return new GenerationHeader(fileId, dec(need(kv, "topology")), dec(need(kv, "component")), task, dec(need(kv, "format")), spec);
  }

  private static String need(Map<String, String> kv, String key) {
    String v = kv.get(key);
    if (v == null) throw new IllegalArgumentException("header has no " + key + "=");
    return v;
  }

  private static String enc(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }

  private static String dec(String s) {
    return URLDecoder.decode(s, StandardCharsets.UTF_8);
  }
}
