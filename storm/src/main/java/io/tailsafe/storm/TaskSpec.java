package io.tailsafe.storm;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.ObjectStreamClass;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.storm.topology.IRichBolt;

/**
 * What {@code tailsafe-storm-replay} needs to run a task's own bolt on its tail, on a host
 * where the task never ran: the bolt object as the topology built it (before {@code prepare}),
 * the record format, the topology's configuration, and the bolt's input streams with their
 * fields. It travels Java-serialised in the header of every backup file the task writes, so
 * it is replicated with the bytes it describes (Storm ships bolts to workers the same way).
 */
public final class TaskSpec implements Serializable {
  private static final long serialVersionUID = 1L;

  public final String topology;
  public final String component;
  public final int task;
  public final IRichBolt bolt;
  public final TupleFormat format;
  public final HashMap<String, Object> conf;
  public final ArrayList<TupleFormat.InputStream> inputs;
  /** A tuple is finished when execute returns (TailsafeBolt.processedOnReturn), not on its ack. */
  public final boolean finishedOnReturn;
  /** The bolt asked for tick tuples (so a replay sends it one after the tail, to flush). */
  public final boolean takesTicks;
  /** The bolt gets each tuple with its record's file id, start and end appended (PositionedTuple). */
  public final boolean positionValues;

  public TaskSpec(String topology, String component, int task, IRichBolt bolt, TupleFormat format, Map<String, Object> conf,
                  List<TupleFormat.InputStream> inputs, boolean finishedOnReturn, boolean takesTicks,
                  boolean positionValues) {
    this.topology = topology;
    this.component = component;
    this.task = task;
    this.bolt = bolt;
    this.format = format;
    this.conf = new HashMap<>(conf);
    this.inputs = new ArrayList<>(inputs);
    this.finishedOnReturn = finishedOnReturn;
    this.takesTicks = takesTicks;
    this.positionValues = positionValues;
  }

  /** The serialised form; an IOException names what could not be serialised. */
  public byte[] toBytes() throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
      out.writeObject(this);
    }
    return bytes.toByteArray();
  }

  /** Reads a spec, resolving classes through {@code loader} (the topology jar's). */
  public static TaskSpec fromBytes(byte[] bytes, ClassLoader loader) throws IOException, ClassNotFoundException {
    try (ObjectInputStream in = new LoaderObjectInputStream(new ByteArrayInputStream(bytes), loader)) {
      Object o = in.readObject();
      if (!(o instanceof TaskSpec spec)) throw new IOException("the header's spec is a " + o.getClass().getName() + ", not a TaskSpec");
      return spec;
    }
  }

  private static final class LoaderObjectInputStream extends ObjectInputStream {
    private final ClassLoader loader;

    LoaderObjectInputStream(InputStream in, ClassLoader loader) throws IOException {
      super(in);
      this.loader = loader;
    }

    @Override
    protected Class<?> resolveClass(ObjectStreamClass desc) throws IOException, ClassNotFoundException {
      try {
        return Class.forName(desc.getName(), false, loader);
      } catch (ClassNotFoundException e) {
        return super.resolveClass(desc);
      }
    }
  }
}
