package io.github.tokenbutler.plugin.opencl;

import org.lwjgl.PointerBuffer;
import org.lwjgl.opencl.CL10;
import org.lwjgl.system.MemoryStack;
import org.lwjgl.system.MemoryUtil;

import java.nio.ByteBuffer;
import java.nio.IntBuffer;
import java.util.ArrayDeque;
import java.util.Deque;

/**
 * A program built from one {@code .cl} source for the context's device. A failed build throws a ClException
 * whose message holds the build log; kernels made here are released (reverse order) when the program closes.
 */
public final class ClProgram implements AutoCloseable {
    private final ClContext ctx;
    private final String name;
    private final long program;
    private final Deque<ClKernel> kernels = new ArrayDeque<>();
    private boolean closed;

    ClProgram(ClContext ctx, String name, String source, String options) {
        this.ctx = ctx;
        this.name = name;
        try (MemoryStack stack = MemoryStack.stackPush()) {
            IntBuffer err = stack.mallocInt(1);
            long p = CL10.clCreateProgramWithSource(ctx.context(), source, err);
            Cl.check(err.get(0), "clCreateProgramWithSource(" + name + ")");
            // The compiler may be loaded on the first build (PoCL's LLVM, with its signal handlers).
            int buildErr = SignalHandlerGuard.around(() -> CL10.clBuildProgram(p, ctx.device().id(), options, null, 0L));
            if (buildErr != CL10.CL_SUCCESS) {
                String log = buildLog(p, ctx.device().id());
                CL10.clReleaseProgram(p);
                throw new ClException("clBuildProgram(" + name + ", options '" + options + "') failed on device '"
                        + ctx.device().name() + "': " + Cl.errorName(buildErr) + "; build log:\n" + log, buildErr);
            }
            this.program = p;
        }
    }

    private static String buildLog(long program, long device) {
        try (MemoryStack stack = MemoryStack.stackPush()) {
            PointerBuffer size = stack.mallocPointer(1);
            int err = CL10.clGetProgramBuildInfo(program, device, CL10.CL_PROGRAM_BUILD_LOG, (ByteBuffer) null, size);
            if (err != CL10.CL_SUCCESS) return "(clGetProgramBuildInfo failed: " + Cl.errorName(err) + ")";
            ByteBuffer b = MemoryUtil.memAlloc((int) Math.max(1, size.get(0)));
            try {
                err = CL10.clGetProgramBuildInfo(program, device, CL10.CL_PROGRAM_BUILD_LOG, b, null);
                if (err != CL10.CL_SUCCESS) return "(clGetProgramBuildInfo failed: " + Cl.errorName(err) + ")";
                return MemoryUtil.memUTF8(b, Math.max(0, b.capacity() - 1)).strip();
            } finally {
                MemoryUtil.memFree(b);
            }
        }
    }

    public ClKernel kernel(String kernelName) {
        ClKernel k = new ClKernel(ctx, this, name + ":" + kernelName, program, kernelName);
        kernels.push(k);
        return k;
    }

    void forget(ClKernel k) { kernels.remove(k); }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        while (!kernels.isEmpty()) kernels.peek().close();
        ctx.forget(this);
        Cl.check(CL10.clReleaseProgram(program), "clReleaseProgram(" + name + ")");
    }
}
