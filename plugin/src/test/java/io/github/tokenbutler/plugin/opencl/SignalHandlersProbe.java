package io.github.tokenbutler.plugin.opencl;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Run in a child JVM by {@link OpenClSignalHandlersTest}, without libjsig: prints which library handles the
 * JVM's crash-critical signals, brings up OpenCL on the first device (programs built, a kernel run), prints them again,
 * then keeps busy threads running through back-to-back safepoints (System.gc()) and prints them a last time.
 * Exit code 0 when it survived; a driver's SA_RESETHAND handler left in place kills it with SIGSEGV (139).
 */
public final class SignalHandlersProbe {
    static final int[] SIGNALS = {4 /* SIGILL */, 7 /* SIGBUS */, 8 /* SIGFPE */, 11 /* SIGSEGV */};

    public static void main(String[] args) throws Throwable {
        System.out.println("before " + libraries());
        List<ClDevice> devices = Cl.devices();
        if (devices.isEmpty()) {
            System.out.println("no OpenCL device");
            System.exit(3);
        }
        try (OpenClKernels kernels = new OpenClKernels(devices.getFirst())) {
            // A lazily built variant (F16 mirror, 2 heads per work-group) and a launch, which PoCL compiles then.
            float[] cache = new float[4 * 16], out = new float[2 * 16];
            SingleKernelRuns.sparseAttention(kernels, kernels.form(), new float[2 * 16], 0, 2, cache, cache, 16, 0, 16, new int[]{0, 1, 2, 3}, 4, out, 0,
                    io.github.tokenbutler.plugin.predictor.KeyPrecision.F16);
            System.out.println("opened " + kernels.name());
        }
        System.out.println("initialized " + libraries());
        AtomicLong sink = new AtomicLong();
        for (int t = 0; t < 4; t++) {
            Thread busy = new Thread(() -> {
                long x = 1;
                while (true) {
                    for (int i = 0; i < 1000; i++) x = x * 31 + i;
                    sink.lazySet(x);
                }
            });
            busy.setDaemon(true);
            busy.start();
        }
        long t0 = System.nanoTime();
        int gcs = 0;
        while (System.nanoTime() - t0 < 2_000_000_000L) {
            System.gc();
            gcs++;
        }
        System.out.println("survived " + gcs + " safepoints");
        System.out.println("after " + libraries());
    }

    /** "signal=library" for each of SIGNALS, the library found by dladdr for the handler's address. */
    static String libraries() throws Throwable {
        Linker linker = Linker.nativeLinker();
        MethodHandle dladdr = linker.downcallHandle(linker.defaultLookup().find("dladdr").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        StringBuilder out = new StringBuilder();
        try (Arena arena = Arena.ofConfined()) {
            for (int s : SIGNALS) {
                long handler = SignalHandlerGuard.handler(s);
                MemorySegment info = arena.allocate(32, 8); // Dl_info: dli_fname, dli_fbase, dli_sname, dli_saddr
                int found = (int) dladdr.invokeExact(MemorySegment.ofAddress(handler), info);
                String library = "?";
                MemorySegment name = info.get(ValueLayout.ADDRESS, 0);
                if (found != 0 && name.address() != 0) {
                    String path = name.reinterpret(4096).getString(0);
                    library = path.substring(path.lastIndexOf('/') + 1);
                }
                out.append(' ').append(s).append('=').append(library);
            }
        }
        return out.toString().strip();
    }
}
