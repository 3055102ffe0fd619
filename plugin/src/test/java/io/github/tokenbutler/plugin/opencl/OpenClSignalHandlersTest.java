package io.github.tokenbutler.plugin.opencl;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
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
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        pb.environment().remove("LD_PRELOAD");
        Process child = pb.start();
        child.getOutputStream().close();
        boolean done = child.waitFor(120, TimeUnit.SECONDS);
        String output = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!done) child.destroyForcibly();
        System.out.println("probe (no libjsig):\n" + output.strip());
        assertTrue(done, "the probe did not finish in 120 s:\n" + output);
        assertEquals(0, child.exitValue(), "the probe JVM died (139 = SIGSEGV):\n" + output);
        // Without the guard: "initialized" shows libLLVM-*.so, and the probe dies in about 2 runs of 3 (measured).
        for (String moment : new String[]{"initialized ", "after "}) {
            String line = output.lines().filter(l -> l.startsWith(moment)).findFirst().orElseThrow(() -> new AssertionError(output));
            for (int s : SignalHandlersProbe.SIGNALS) assertTrue(line.contains(s + "=libjvm.so"), "signal " + s + ": " + line);
        }
    }

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
    void aChangedHandlerIsPutBackAndAnUnchangedOneIsLeftAlone() throws Throwable {
        assumeTrue(SignalHandlerGuard.supported(), "signal handlers are read on Linux only");
        int sigwinch = 28; // ignored by default; nothing in a JVM handles it
        long before = SignalHandlerGuard.handler(sigwinch);
        SignalHandlerGuard.Snapshot snapshot = SignalHandlerGuard.before();
        var linker = java.lang.foreign.Linker.nativeLinker();
        var signal = linker.downcallHandle(linker.defaultLookup().find("signal").orElseThrow(),
                java.lang.foreign.FunctionDescriptor.of(java.lang.foreign.ValueLayout.JAVA_LONG,
                        java.lang.foreign.ValueLayout.JAVA_INT, java.lang.foreign.ValueLayout.JAVA_LONG));
        long sigIgn = 1, sigDfl = 0;
        long previous = (long) signal.invokeExact(sigwinch, before == sigIgn ? sigDfl : sigIgn);
        assertEquals(before, previous);
        assertNotEquals(before, SignalHandlerGuard.handler(sigwinch));
        assertEquals(List.of(sigwinch), snapshot.restoreChanged());
        assertEquals(before, SignalHandlerGuard.handler(sigwinch));
        assertEquals(List.of(), snapshot.restoreChanged());
    }
}
