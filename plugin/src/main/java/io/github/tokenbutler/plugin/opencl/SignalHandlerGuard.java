package io.github.tokenbutler.plugin.opencl;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * Keeps an OpenCL driver from taking over this process's signal handlers.
 *
 * <p>Why: PoCL, when it initializes, makes its in-process LLVM register crash handlers for SIGSEGV, SIGBUS,
 * SIGILL, SIGINT, SIGTERM, SIGUSR2 and others, replacing the JVM's, with SA_RESETHAND. The JVM raises SIGSEGV on
 * purpose all the time (safepoint polls, implicit null checks). LLVM's handler gives the signal back to the JVM
 * once, but SA_RESETHAND resets the action to the default as it enters: a second thread faulting at the same
 * moment (every Java thread meets a safepoint poll at once) kills the process with a bare "Segmentation fault"
 * and no hs_err file (it happened in CI). Measured with OpenClSignalHandlersTest's probe (a JVM without libjsig,
 * 4 busy threads, about 150 back-to-back System.gc() calls after PoCL's initialization): without this guard it
 * died 2 times in 3; with it, 0 times in 8.
 *
 * <p>What: {@link #around} reads the actions of signals 1..31 (sigaction through the FFM API) before an OpenCL
 * call that may initialize a driver, and puts back every action that changed during the call. LLVM then believes
 * its handlers are installed and never installs them again (checked: building programs and compiling kernels
 * afterwards leaves the JVM's handlers in place). That includes PoCL's own SIGFPE handler, which skips integer
 * divisions by zero in kernel threads and passes other SIGFPEs to LLVM's handler: the JVM's takes its place, so
 * Java's division by zero keeps its usual path, and a kernel dividing by zero would be a fatal error (none of
 * ours divides by a value that can be zero). The launcher also preloads the JDK's libjsig.so, the JVM's own
 * signal-chaining library, which keeps the JVM's SIGSEGV/SIGBUS/SIGILL/SIGFPE/SIGQUIT handlers in place from the
 * start; this guard covers the jar used on a plain JVM, and the signals libjsig lets through (SIGINT, SIGTERM,
 * SIGHUP, SIGUSR2).
 *
 * <p>Linux on x86-64 and aarch64 only (the layout of struct sigaction read here is glibc's there); elsewhere,
 * or when sigaction cannot be found, it does nothing.
 */
final class SignalHandlerGuard {
    private static final int SIGNALS = 31;
    // glibc's struct sigaction is 152 bytes on x86-64 and aarch64; the rest is headroom.
    private static final long ACTION_BYTES = 256;
    private static final MethodHandle SIGACTION = lookupSigaction();
    private static final System.Logger LOG = System.getLogger(SignalHandlerGuard.class.getName());

    private SignalHandlerGuard() {}

    private static MethodHandle lookupSigaction() {
        String arch = System.getProperty("os.arch", "");
        if (!System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux")
                || !(arch.equals("amd64") || arch.equals("x86_64") || arch.equals("aarch64"))) return null;
        try {
            Linker linker = Linker.nativeLinker();
            return linker.defaultLookup().find("sigaction").map(address -> linker.downcallHandle(address,
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS)))
                    .orElse(null);
        } catch (RuntimeException | LinkageError e) { // no native access granted, or no such symbol
            return null;
        }
    }

    /** Whether this platform's signal handlers can be read and restored. */
    static boolean supported() { return SIGACTION != null; }

    /** How deep the lock holder's windows are nested: only the outermost one takes the snapshot and restores. */
    private static int depth;
    private static MemorySegment[] snapshot;

    /**
     * Runs {@code call} (an OpenCL call that may initialize a driver or its compiler) and then puts back every
     * signal action that changed during it. The whole window holds one lock: a second window opening while a
     * driver's handlers are installed would take them for the state to restore.
     */
    static <T> T around(Supplier<T> call) {
        synchronized (SignalHandlerGuard.class) {
            if (depth++ == 0 && SIGACTION != null) {
                snapshot = new MemorySegment[SIGNALS + 1];
                for (int s = 1; s <= SIGNALS; s++) snapshot[s] = read(s);
            }
            try {
                return call.get();
            } finally {
                if (--depth == 0 && snapshot != null) {
                    restoreChanged(snapshot);
                    snapshot = null;
                }
            }
        }
    }

    private static void restoreChanged(MemorySegment[] actions) {
        List<Integer> restored = new ArrayList<>();
        for (int s = 1; s <= SIGNALS; s++) {
            if (sameAction(read(s), actions[s])) continue;
            // SIGKILL and SIGSTOP cannot be changed: sigaction refuses, and they never differ.
            if (sigaction(s, actions[s], MemorySegment.NULL) == 0) restored.add(s);
        }
        if (!restored.isEmpty()) {
            LOG.log(System.Logger.Level.DEBUG, "the OpenCL driver replaced the handlers of signals " + restored + "; restored the previous ones");
        }
    }

    /** The address of the handler of {@code signal} now (0 for SIG_DFL, 1 for SIG_IGN); -1 when unsupported. */
    static long handler(int signal) {
        if (SIGACTION == null) return -1;
        return read(signal).get(ValueLayout.JAVA_LONG, 0);
    }

    private static MemorySegment read(int signal) {
        MemorySegment action = Arena.ofAuto().allocate(ACTION_BYTES, 16);
        sigaction(signal, MemorySegment.NULL, action);
        return action;
    }

    private static int sigaction(int signal, MemorySegment act, MemorySegment old) {
        try {
            return (int) SIGACTION.invokeExact(signal, act, old);
        } catch (Throwable e) {
            throw new IllegalStateException("sigaction(" + signal + ") failed: " + e, e);
        }
    }

    /**
     * Whether two glibc struct sigaction hold the same action: handler (offset 0), the kernel's 64-bit signal mask
     * (8; glibc fills the rest of its 128-byte sa_mask from uninitialized stack) and sa_flags (136) but for
     * SA_RESTORER, which glibc itself adds, with sa_restorer, to every action it installs.
     */
    private static boolean sameAction(MemorySegment a, MemorySegment b) {
        int flagsWithoutRestorer = ~0x04000000;
        return a.get(ValueLayout.JAVA_LONG, 0) == b.get(ValueLayout.JAVA_LONG, 0)
                && a.get(ValueLayout.JAVA_LONG, 8) == b.get(ValueLayout.JAVA_LONG, 8)
                && (a.get(ValueLayout.JAVA_INT, 136) & flagsWithoutRestorer) == (b.get(ValueLayout.JAVA_INT, 136) & flagsWithoutRestorer);
    }
}
