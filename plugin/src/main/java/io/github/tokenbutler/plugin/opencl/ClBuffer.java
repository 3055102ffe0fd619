package io.github.tokenbutler.plugin.opencl;

import org.lwjgl.PointerBuffer;
import org.lwjgl.opencl.CL10;
import org.lwjgl.opencl.CL11;
import org.lwjgl.system.MemoryStack;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.IntBuffer;

/**
 * A device buffer. Transfers go through the context's host staging memory: Java arrays live on the heap, which
 * the driver cannot read, so each write copies into native memory first (a memcpy, far cheaper than the bus).
 * Writes do not block: they return once the data is staged ({@link ClContext#writeStaging}) and the transfer
 * overlaps with what the host does next. Reads block, and then every earlier command of the in-order queue has run.
 */
public final class ClBuffer implements AutoCloseable {
    private final ClContext ctx;
    private final long mem, bytes;
    private final String what;
    private boolean closed;

    ClBuffer(ClContext ctx, long bytes, String what) {
        this.ctx = ctx;
        this.bytes = bytes;
        this.what = what;
        try (MemoryStack stack = MemoryStack.stackPush()) {
            IntBuffer err = stack.mallocInt(1);
            long m = CL10.clCreateBuffer(ctx.context(), CL10.CL_MEM_READ_WRITE, bytes, err);
            if (err.get(0) != CL10.CL_SUCCESS) {
                throw new ClException("clCreateBuffer failed for " + what + " (" + bytes + " bytes): " + Cl.errorName(err.get(0)), err.get(0));
            }
            this.mem = m;
        }
    }

    long handle() { return mem; }

    public long bytes() { return bytes; }

    public void write(float[] src, int srcOff, int count, long dstElement) {
        long n = (long) count * 4;
        MemorySegment s = ctx.writeStaging(n);
        MemorySegment.copy(src, srcOff, s, ValueLayout.JAVA_FLOAT, 0, count);
        writeStaged(dstElement * 4, n, s);
    }

    public void write(int[] src, int srcOff, int count, long dstElement) {
        long n = (long) count * 4;
        MemorySegment s = ctx.writeStaging(n);
        MemorySegment.copy(src, srcOff, s, ValueLayout.JAVA_INT, 0, count);
        writeStaged(dstElement * 4, n, s);
    }

    public void write(short[] src, int srcOff, int count, long dstElement) {
        long n = (long) count * 2;
        MemorySegment s = ctx.writeStaging(n);
        MemorySegment.copy(src, srcOff, s, ValueLayout.JAVA_SHORT, 0, count);
        writeStaged(dstElement * 2, n, s);
    }

    public void write(byte[] src, int srcOff, int count, long dstElement) {
        MemorySegment s = ctx.writeStaging(count);
        MemorySegment.copy(src, srcOff, s, ValueLayout.JAVA_BYTE, 0, count);
        writeStaged(dstElement, count, s);
    }

    private void writeStaged(long offset, long n, MemorySegment s) {
        if (n == 0) return;
        checkRange(offset, n);
        Cl.check(CL10.nclEnqueueWriteBuffer(ctx.queue(), mem, 0, offset, n, s.address(), 0, 0L, 0L), "clEnqueueWriteBuffer(" + what + ")");
        ctx.sent(n);
    }

    public void read(long srcElement, float[] dst, int dstOff, int count) {
        if (count == 0) return;
        MemorySegment s = readStaged(srcElement * 4, count * 4L);
        MemorySegment.copy(s, ValueLayout.JAVA_FLOAT, 0, dst, dstOff, count);
    }

    public void read(long srcElement, int[] dst, int dstOff, int count) {
        if (count == 0) return;
        MemorySegment s = readStaged(srcElement * 4, count * 4L);
        MemorySegment.copy(s, ValueLayout.JAVA_INT, 0, dst, dstOff, count);
    }

    public void read(long srcElement, short[] dst, int dstOff, int count) {
        if (count == 0) return;
        MemorySegment s = readStaged(srcElement * 2, count * 2L);
        MemorySegment.copy(s, ValueLayout.JAVA_SHORT, 0, dst, dstOff, count);
    }

    public void read(long srcElement, byte[] dst, int dstOff, int count) {
        if (count == 0) return;
        MemorySegment s = readStaged(srcElement, count);
        MemorySegment.copy(s, ValueLayout.JAVA_BYTE, 0, dst, dstOff, count);
    }

    /** Blocking read of n bytes from byte offset into the context's read staging memory. */
    private MemorySegment readStaged(long offset, long n) {
        checkRange(offset, n);
        MemorySegment s = ctx.staging(n);
        ctx.letRun();
        Cl.check(CL10.nclEnqueueReadBuffer(ctx.queue(), mem, 1, offset, n, s.address(), 0, 0L, 0L), "clEnqueueReadBuffer(" + what + ")");
        ctx.drained();
        ctx.received(n);
        return s;
    }

    /** Fills one row of a {@link #writeRows} transfer. */
    @FunctionalInterface
    public interface RowFiller {
        /** Copies row {@code row}'s bytes into {@code dst} (exactly the row's length). */
        void fill(int row, MemorySegment dst);
    }

    /**
     * Writes {@code rows} rows of {@code rowBytes} bytes to byte offsets {@code dstOffset + r * dstPitch} in one
     * transfer (clEnqueueWriteBufferRect), each row filled into the staging area by {@code fill}: one call instead
     * of a call per row (e.g. the new block of importance keys of every (layer, head) group).
     */
    public void writeRows(int rows, long rowBytes, long dstOffset, long dstPitch, RowFiller fill) {
        if (rows == 0 || rowBytes == 0) return;
        if (rowBytes > dstPitch) throw new IllegalArgumentException(what + ": rows of " + rowBytes + " bytes overlap at a pitch of " + dstPitch);
        checkRange(dstOffset, (rows - 1) * dstPitch + rowBytes);
        MemorySegment s = ctx.writeStaging(rows * rowBytes);
        for (int r = 0; r < rows; r++) fill.fill(r, s.asSlice(r * rowBytes, rowBytes));
        try (MemoryStack stack = MemoryStack.stackPush()) {
            PointerBuffer bufferOrigin = stack.mallocPointer(3).put(0, dstOffset % dstPitch).put(1, dstOffset / dstPitch).put(2, 0);
            PointerBuffer hostOrigin = stack.mallocPointer(3).put(0, 0).put(1, 0).put(2, 0);
            PointerBuffer region = stack.mallocPointer(3).put(0, rowBytes).put(1, rows).put(2, 1);
            Cl.check(CL11.nclEnqueueWriteBufferRect(ctx.queue(), mem, 0, bufferOrigin.address(), hostOrigin.address(), region.address(),
                    dstPitch, 0, rowBytes, 0, s.address(), 0, 0L, 0L), "clEnqueueWriteBufferRect(" + what + ")");
        }
        ctx.sent(rows * rowBytes);
    }

    /** Copies count floats from element srcElement of this buffer to element dstElement of dst, on the device. */
    public void copyFloats(long srcElement, ClBuffer dst, long dstElement, long count) {
        long n = count * 4;
        if (n == 0) return;
        checkRange(srcElement * 4, n);
        dst.checkRange(dstElement * 4, n);
        Cl.check(CL10.clEnqueueCopyBuffer(ctx.queue(), mem, dst.mem, srcElement * 4, dstElement * 4, n, null, null),
                "clEnqueueCopyBuffer(" + what + " to " + dst.what + ")");
    }

    private void checkRange(long offset, long n) {
        if (offset < 0 || offset + n > bytes) {
            throw new IllegalArgumentException(what + ": transfer of bytes " + offset + ".." + (offset + n) + " is outside the buffer's " + bytes);
        }
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        ctx.forget(this);
        Cl.check(CL10.clReleaseMemObject(mem), "clReleaseMemObject(" + what + ")");
    }
}
