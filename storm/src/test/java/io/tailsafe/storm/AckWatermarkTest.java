package io.tailsafe.storm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class AckWatermarkTest {
  @Test
  void anAckBeforeAnOlderOneDoesNotMoveTheCheckpoint() {
    AckWatermark w = new AckWatermark(100);
    assertEquals(100, w.checkpoint());
    w.appended(100, 110);
    w.appended(110, 125);
    w.appended(125, 130);
    assertEquals(100, w.checkpoint());
    assertTrue(w.done(110));
    assertEquals(100, w.checkpoint(), "the record at 100 is still in flight");
    assertTrue(w.done(100));
    assertEquals(125, w.checkpoint());
    assertTrue(w.done(125));
    assertEquals(130, w.checkpoint(), "nothing in flight: the end of the file");
    assertEquals(0, w.inFlight());
  }

  @Test
  void aRecordDoneTwiceOrNeverAppendedIsRefused() {
    AckWatermark w = new AckWatermark(0);
    w.appended(0, 5);
    assertTrue(w.done(0));
    assertFalse(w.done(0));
    assertFalse(w.done(3));
    assertEquals(5, w.checkpoint());
  }

  @Test
  void recordsOutOfFileOrderAreRefusedNamingTheOffsets() {
    AckWatermark w = new AckWatermark(10);
    IllegalArgumentException gap = assertThrows(IllegalArgumentException.class, () -> w.appended(12, 20));
    assertEquals("record at 12 does not start at the end of the last, 10", gap.getMessage());
    IllegalArgumentException empty = assertThrows(IllegalArgumentException.class, () -> w.appended(10, 10));
    assertEquals("record [10, 10) is empty or reversed", empty.getMessage());
    assertThrows(IllegalArgumentException.class, () -> new AckWatermark(-1));
  }

  /** In any order of acks, the checkpoint is the start of the oldest record not yet done. */
  @Test
  void theCheckpointIsTheOldestRecordNotDoneInAnyAckOrder() {
    Random random = new Random(20261203);
    for (int round = 0; round < 200; round++) {
      AckWatermark w = new AckWatermark(0);
      List<long[]> records = new ArrayList<>();
      long at = 0;
      for (int i = 0; i < 50; i++) {
        long len = 1 + random.nextInt(80);
        w.appended(at, at + len);
        records.add(new long[] {at, at + len});
        at += len;
      }
      List<long[]> order = new ArrayList<>(records);
      Collections.shuffle(order, random);
      boolean[] done = new boolean[records.size()];
      for (long[] r : order) {
        assertTrue(w.done(r[0]));
        done[records.indexOf(r)] = true;
        long want = at;
        for (int i = 0; i < records.size(); i++) {
          if (!done[i]) {
            want = records.get(i)[0];
            break;
          }
        }
        assertEquals(want, w.checkpoint(), "round " + round);
      }
    }
  }
}
