package io.tailsafe.storm;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.apache.storm.tuple.Tuple;
import org.apache.storm.tuple.TupleImpl;

/**
 * A tuple as a {@link TailsafeBolt#positionValues} bolt sees it: the tuple's values followed by
 * three more, the record's file id (String), start and end (Long). For bolts that cannot call
 * {@link RecordPosition#current()}: a multilang ShellBolt sends these values to its subprocess,
 * which can then store results exactly once by record. Everything else (message id, anchors,
 * ack value, source) is the original tuple's, so Storm acks and anchors it as the original.
 * Fields named by the topology keep their indexes; the three are reached by index only.
 */
final class PositionedTuple extends TupleImpl {
  private final List<Object> values;

  PositionedTuple(Tuple original, RecordPosition p) {
    super(original);
    List<Object> v = new ArrayList<>(original.size() + 3);
    v.addAll(original.getValues());
    v.add(p.fileId());
    v.add(p.start());
    v.add(p.end());
    this.values = Collections.unmodifiableList(v);
  }

  @Override
  public int size() {
    return values.size();
  }

  @Override
  public Object getValue(int i) {
    return values.get(i);
  }

  @Override
  public List<Object> getValues() {
    return values;
  }
}
