package io.github.tokenbutler.plugin.opencl;

import org.lwjgl.PointerBuffer;
import org.lwjgl.opencl.CL10;
import org.lwjgl.opencl.CL11;
import org.lwjgl.opencl.CL12;
import org.lwjgl.system.MemoryStack;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.IntBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Deque;

/**
 * An OpenCL context and one in-order command queue on one device, plus a host staging area for transfers.
 * Buffers and programs are made here and owned here: {@link #close} releases whatever is still open in the
 * reverse order of creation, then the queue, then the context (each object may also be closed earlier).
 *
 * <p>Not thread-safe: one thread uses a context at a time (the hook's calls come one after the other).
 */
public final class ClContext implements AutoCloseable {
    private final ClDevice device;
    private final long context, queue;
    private final Deque<AutoCloseable> owned = new ArrayDeque<>();
    private final Arena stagingArena = Arena.ofShared();
    private MemorySegment staging = MemorySegment.NULL;
    /** Staging of non-blocking writes: filled front to back, reused once the queue has run them. */
    private MemorySegment writeStaging = MemorySegment.NULL;
    private long writeStagingUsed;
    private boolean closed;
    /** The user event that {@link #hold} made the queue wait for, or 0 when the queue runs freely. */
    private long gate;
    /** Bytes every transfer of this context's buffers moved, each way, since it was made. */
    private long bytesToDevice, bytesFromDevice;

    public ClContext(ClDevice device) {
        Cl.configureLibrary();
        this.device = device;
        // Drivers may initialize lazily, here.
        long[] contextAndQueue = SignalHandlerGuard.around(() -> createContextAndQueue(device));
        this.context = contextAndQueue[0];
        this.queue = contextAndQueue[1];
    }

    private static long[] createContextAndQueue(ClDevice device) {
        try (MemoryStack stack = MemoryStack.stackPush()) {
            IntBuffer err = stack.mallocInt(1);
            long ctx = CL10.clCreateContext(null, device.id(), null, 0L, err);
            Cl.check(err.get(0), "clCreateContext");
            long q = CL10.clCreateCommandQueue(ctx, device.id(), 0L, err);
            if (err.get(0) != CL10.CL_SUCCESS) {
                CL10.clReleaseContext(ctx);
                Cl.check(err.get(0), "clCreateCommandQueue");
            }
            return new long[]{ctx, q};
        }
    }

    public ClDevice device() { return device; }

    // A released handle reaches the ICD loader as a dangling dispatch table and crashes the JVM: refuse instead.
    long queue() {
        requireOpen();
        return queue;
    }

    long context() {
        requireOpen();
        return context;
    }

    private void requireOpen() {
        if (closed) throw new IllegalStateException("OpenCL context on '" + device.name() + "' is closed");
    }

    /** A device buffer of {@code bytes} bytes (read-write). */
    public ClBuffer buffer(long bytes, String what) {
        ClBuffer b = new ClBuffer(this, Math.max(4, bytes), what);
        owned.push(b);
        return b;
    }

    /**
     * Builds the program in resource {@code name} (next to this class) with the given build options, after the
     * text of the {@code headers} resources (definitions several programs share; build logs count the program's
     * lines from 1).
     */
    public ClProgram program(String name, String options, String... headers) {
        requireOpen();
        StringBuilder source = new StringBuilder();
        for (String header : headers) source.append(resourceText(header)).append('\n');
        if (headers.length > 0) source.append("#line 1\n");
        source.append(resourceText(name));
        ClProgram p = new ClProgram(this, name, source.toString(), options);
        owned.push(p);
        return p;
    }

    private static String resourceText(String name) {
        try (InputStream in = ClContext.class.getResourceAsStream(name)) {
            if (in == null) throw new IllegalStateException("OpenCL source " + name + " is missing from the classpath");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read OpenCL source " + name + ": " + e.getMessage(), e);
        }
    }

    void forget(AutoCloseable resource) { owned.remove(resource); }

    /** What crossed the bus between host and device: the bytes of every write and read so far. */
    public record BusTraffic(long toDevice, long fromDevice) {
        /** The traffic since {@code earlier}, a reading of the same context. */
        public BusTraffic since(BusTraffic earlier) {
            return new BusTraffic(toDevice - earlier.toDevice, fromDevice - earlier.fromDevice);
        }

        public long total() { return toDevice + fromDevice; }
    }

    /** The bytes this context's buffers sent to the device and read back so far (copies on the device not counted). */
    public BusTraffic busTraffic() { return new BusTraffic(bytesToDevice, bytesFromDevice); }

    void sent(long bytes) { bytesToDevice += bytes; }

    void received(long bytes) { bytesFromDevice += bytes; }

    /** Buffers and programs made here and not yet closed (leak checks). */
    int openResources() { return owned.size(); }

    /**
     * Host memory of {@code bytes} bytes for a non-blocking write: nothing else uses it until the queue has run
     * that write. Writes take consecutive pieces of one area; when it is full, {@link #finish} waits for the queue
     * and the area starts over (a blocking read, which the in-order queue runs after every earlier write, starts
     * it over too). So the caller returns as soon as the data is copied here, and the transfer overlaps with what
     * the host does next (enqueueing kernels, the CPU's share of the step).
     */
    MemorySegment writeStaging(long bytes) {
        long need = (bytes + 63) & ~63L;
        if (writeStagingUsed + need > writeStaging.byteSize()) {
            finish();
            if (need > writeStaging.byteSize()) {
                // The old area stays in the arena until close; the queue no longer reads it.
                writeStaging = stagingArena.allocate(Math.max(need, Math.max(1L << 20, 2 * writeStaging.byteSize())), 64);
            }
        }
        MemorySegment s = writeStaging.asSlice(writeStagingUsed, bytes);
        writeStagingUsed += need;
        return s;
    }

    /** The queue has run everything enqueued so far (a blocking read or finish returned). */
    void drained() { writeStagingUsed = 0; }

    /** Host memory of at least {@code bytes} bytes for a blocking read; valid until the next call. */
    MemorySegment staging(long bytes) {
        if (staging.byteSize() < bytes) {
            // The old block stays in the arena until close: growth is rare (doubling) and bounded by the largest transfer.
            staging = stagingArena.allocate(Math.max(bytes, 2 * staging.byteSize()), 64);
        }
        return staging;
    }

    /**
     * Holds the queue: what is enqueued from now on waits until the next blocking call (a read, {@link #finish})
     * lets it run, all of it at once. For a device on the host's own cores (PoCL): otherwise its threads start on
     * the first command while the host thread is still enqueueing the rest, and three threads take turns on the
     * cores. A no-op while the queue is held already.
     */
    public void hold() {
        if (gate != 0) return;
        try (MemoryStack stack = MemoryStack.stackPush()) {
            IntBuffer err = stack.mallocInt(1);
            long event = CL11.clCreateUserEvent(context(), err);
            Cl.check(err.get(0), "clCreateUserEvent");
            int status = CL12.clEnqueueBarrierWithWaitList(queue(), stack.pointers(event), (PointerBuffer) null);
            if (status != CL10.CL_SUCCESS) {
                CL11.clSetUserEventStatus(event, CL10.CL_COMPLETE);
                CL10.clReleaseEvent(event);
                Cl.check(status, "clEnqueueBarrierWithWaitList");
            }
            gate = event;
        }
    }

    /** Lets a held queue run (before any call that waits for it). */
    void letRun() {
        if (gate == 0) return;
        long event = gate;
        gate = 0;
        int status = CL11.clSetUserEventStatus(event, CL10.CL_COMPLETE);
        int released = CL10.clReleaseEvent(event);
        Cl.check(status, "clSetUserEventStatus");
        Cl.check(released, "clReleaseEvent");
    }

    /** Waits for every queued command. */
    public void finish() {
        letRun();
        Cl.check(CL10.clFinish(queue()), "clFinish");
        drained();
    }

    @Override
    public void close() {
        if (closed) return;
        try {
            // Pending non-blocking writes read the staging memory, which is freed below.
            finish();
        } catch (RuntimeException e) {
            // A device that failed (the session already said so and went on on the CPU) may fail this too; the
            // releases below still run, and closing must not throw for it.
        }
        closed = true;
        RuntimeException first = null;
        while (!owned.isEmpty()) {
            try {
                owned.pop().close();
            } catch (Exception e) {
                if (first == null) first = e instanceof RuntimeException r ? r : new IllegalStateException(e);
            }
        }
        int qErr = CL10.clReleaseCommandQueue(queue);
        int cErr = CL10.clReleaseContext(context);
        stagingArena.close();
        if (first != null) throw first;
        Cl.check(qErr, "clReleaseCommandQueue");
        Cl.check(cErr, "clReleaseContext");
    }
}
