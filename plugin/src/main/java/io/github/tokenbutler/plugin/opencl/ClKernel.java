package io.github.tokenbutler.plugin.opencl;

import org.lwjgl.PointerBuffer;
import org.lwjgl.opencl.CL10;
import org.lwjgl.system.MemoryStack;

import java.nio.IntBuffer;

/** One kernel of a {@link ClProgram}: arguments set by index, then {@link #run} enqueues it. */
public final class ClKernel implements AutoCloseable {
    private final ClContext ctx;
    private final ClProgram program;
    private final String name;
    private final long kernel;
    private final long maxWorkGroupSize;
    private boolean closed;

    ClKernel(ClContext ctx, ClProgram program, String name, long programHandle, String kernelName) {
        this.ctx = ctx;
        this.program = program;
        this.name = name;
        try (MemoryStack stack = MemoryStack.stackPush()) {
            IntBuffer err = stack.mallocInt(1);
            long k = CL10.clCreateKernel(programHandle, kernelName, err);
            Cl.check(err.get(0), "clCreateKernel(" + name + ")");
            this.kernel = k;
            PointerBuffer size = stack.mallocPointer(1);
            Cl.check(CL10.clGetKernelWorkGroupInfo(k, ctx.device().id(), CL10.CL_KERNEL_WORK_GROUP_SIZE, size, null),
                    "clGetKernelWorkGroupInfo(" + name + ")");
            this.maxWorkGroupSize = size.get(0);
        }
    }

    /** The largest work-group this kernel can run with on the device. */
    public long maxWorkGroupSize() { return maxWorkGroupSize; }

    public ClKernel arg(int index, ClBuffer b) {
        Cl.check(CL10.clSetKernelArg1p(kernel, index, b.handle()), "clSetKernelArg(" + name + ", " + index + ")");
        return this;
    }

    public ClKernel arg(int index, int v) {
        Cl.check(CL10.clSetKernelArg1i(kernel, index, v), "clSetKernelArg(" + name + ", " + index + ")");
        return this;
    }

    public ClKernel arg(int index, float v) {
        Cl.check(CL10.clSetKernelArg1f(kernel, index, v), "clSetKernelArg(" + name + ", " + index + ")");
        return this;
    }

    /** A __local argument of {@code bytes} bytes. */
    public ClKernel local(int index, long bytes) {
        Cl.check(CL10.clSetKernelArg(kernel, index, bytes), "clSetKernelArg(" + name + ", " + index + ", local)");
        return this;
    }

    /** Enqueues the kernel over {@code global} work-items in work-groups of {@code local} (null: the driver's choice). */
    public void run(long[] global, long[] local) {
        try (MemoryStack stack = MemoryStack.stackPush()) {
            PointerBuffer g = stack.mallocPointer(global.length);
            for (int i = 0; i < global.length; i++) g.put(i, global[i]);
            PointerBuffer l = null;
            if (local != null) {
                l = stack.mallocPointer(local.length);
                for (int i = 0; i < local.length; i++) l.put(i, local[i]);
            }
            Cl.check(CL10.clEnqueueNDRangeKernel(ctx.queue(), kernel, global.length, null, g, l, null, null),
                    "clEnqueueNDRangeKernel(" + name + ")");
        }
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        program.forget(this);
        Cl.check(CL10.clReleaseKernel(kernel), "clReleaseKernel(" + name + ")");
    }
}
