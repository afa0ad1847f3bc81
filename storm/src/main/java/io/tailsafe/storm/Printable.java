package io.tailsafe.storm;

/** Text from a file or a peer made safe for a message: printable ASCII kept, the rest '?', cut. */
final class Printable {
  private Printable() {}

  static String of(String text) {
    int max = 200;
    StringBuilder s = new StringBuilder(Math.min(text.length(), max));
    for (int i = 0; i < text.length() && i < max; i++) {
      char c = text.charAt(i);
      s.append(c >= 0x20 && c < 0x7f ? c : '?');
    }
    if (text.length() > max) s.append("...");
    return s.toString();
  }
}
