package io.github.tokenbutler.plugin.opencl;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * PoCL's LLVM replaces the JVM's SIGSEGV/SIGBUS/SIGILL handlers when the driver initializes (seen on PoCL 3.1 with
 * LLVM 15: handler in libLLVM-15.so, flags SA_RESETHAND|SA_NODEFER|SA_ONSTACK), which once killed the test JVM
 * with a bare "Segmentation fault". {@link SignalHandlerGuard} puts the JVM's handlers back; these tests check the
 * result in a JVM without libjsig (the way a user's application would load the jar) and in this one.
 */
class OpenClSignalHandlersTest {

    @Test
    void aChildJvmWithoutLibjsigKeepsTheJvmHandlersThroughOpenClAndSafepoints() throws IOException, InterruptedException {
        OpenClBackends.requireOpenCl();
        assumeTrue(SignalHandlerGuard.supported(), "signal handlers are read on Linux only");
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                SignalHandlersProbe.class.getName()));
        Path log = Files.createTempFile("signal-probe", ".log");
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().remove("LD_PRELOAD");
        Process child = pb.start();
        child.getOutputStream().close();
        boolean done = child.waitFor(120, TimeUnit.SECONDS);
        if (!done) child.destroyForcibly().waitFor();
        String output = Files.readString(log, StandardCharsets.UTF_8);
        Files.deleteIfExists(log);
        System.out.println("probe (no libjsig):\n" + output.strip());
        assertTrue(done, "the probe did not finish in 120 s:\n" + output);
        assertEquals(0, child.exitValue(), "the probe JVM died (139 = SIGSEGV):\n" + output);
        // Without the guard: "initialized" shows libLLVM-*.so, and the probe dies in about 2 runs of 3 (measured).
        for (String moment : new String[]{"initialized ", "after "}) {
            String line = output.lines().filter(l -> l.startsWith(moment)).findFirst().orElseThrow(() -> new AssertionError(output));
            for (int s : SignalHandlersProbe.SIGNALS) assertTrue(line.contains(s + "=libjvm.so"), "signal " + s + ": " + line);
        }
    }

    /** Under surefire libjsig is preloaded too, so this checks the end state rather than the guard alone. */
    @Test
    void thisJvmKeepsItsHandlersAfterBuildingThePrograms() throws Throwable {
        ClDevice device = OpenClBackends.requireOpenCl();
        assumeTrue(SignalHandlerGuard.supported(), "signal handlers are read on Linux only");
        try (OpenClKernels kernels = new OpenClKernels(device)) {
            String libraries = SignalHandlersProbe.libraries();
            for (int s : SignalHandlersProbe.SIGNALS) assertTrue(libraries.contains(s + "=libjvm.so"), "signal " + s + ": " + libraries);
        }
    }

    @Test
    void aHandlerChangedInsideTheWindowIsPutBackAndOneChangedOutsideIsKept() throws Throwable {
        assumeTrue(SignalHandlerGuard.supported(), "signal handlers are read on Linux only");
        int sigwinch = 28; // ignored by default; nothing in a JVM handles it
        var linker = java.lang.foreign.Linker.nativeLinker();
        var signal = linker.downcallHandle(linker.defaultLookup().find("signal").orElseThrow(),
                java.lang.foreign.FunctionDescriptor.of(java.lang.foreign.ValueLayout.JAVA_LONG,
                        java.lang.foreign.ValueLayout.JAVA_INT, java.lang.foreign.ValueLayout.JAVA_LONG));
        long sigIgn = 1, sigDfl = 0;
        long before = SignalHandlerGuard.handler(sigwinch), other = before == sigIgn ? sigDfl : sigIgn;
        long seenInside = SignalHandlerGuard.around(() -> {
            try {
                long previous = (long) signal.invokeExact(sigwinch, other);
                assertEquals(before, previous);
            } catch (Throwable e) {
                throw new AssertionError(e);
            }
            // A nested window (a build inside an enumeration) must not restore early.
            SignalHandlerGuard.around(() -> null);
            return SignalHandlerGuard.handler(sigwinch);
        });
        assertEquals(other, seenInside);
        assertEquals(before, SignalHandlerGuard.handler(sigwinch), "put back when the window closed");
        try {
            long previous = (long) signal.invokeExact(sigwinch, other);
            SignalHandlerGuard.around(() -> null);
            assertEquals(other, SignalHandlerGuard.handler(sigwinch), "a change made outside any window stays");
        } finally {
            long ignored = (long) signal.invokeExact(sigwinch, before);
        }
    }
}
