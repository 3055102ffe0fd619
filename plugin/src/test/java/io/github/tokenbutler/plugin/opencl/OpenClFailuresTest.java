package io.github.tokenbutler.plugin.opencl;

import io.github.tokenbutler.plugin.hook.AttentionBackend;
import io.github.tokenbutler.plugin.hook.AttentionBackends;
import io.github.tokenbutler.runtime.Llama3.UserError;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** What the user sees when OpenCL cannot do what was asked: messages, fallbacks, no crashes. */
class OpenClFailuresTest {
    @Test
    void errorCodesAreNamedWithTheCall() {
        ClException e = assertThrows(ClException.class, () -> Cl.check(-5, "clEnqueueNDRangeKernel(x)"));
        assertEquals("clEnqueueNDRangeKernel(x) failed: CL_OUT_OF_RESOURCES (-5)", e.getMessage());
        assertTrue(e.isOutOfMemory());
        assertDoesNotThrow(() -> Cl.check(0, "clFinish"));
    }

    @Test
    void aFailedBuildCarriesItsBuildLog() {
        ClDevice device = OpenClBackends.requireOpenCl();
        try (ClContext ctx = new ClContext(device)) {
            ClException e = assertThrows(ClException.class, () -> ctx.program("broken_for_test.cl", ""));
            assertTrue(e.getMessage().startsWith("clBuildProgram(broken_for_test.cl"), e.getMessage());
            assertTrue(e.getMessage().contains("CL_BUILD_PROGRAM_FAILURE"), e.getMessage());
            assertTrue(e.getMessage().contains("undeclared_identifier_for_the_test"), "build log: " + e.getMessage());
            assertEquals(0, ctx.openResources(), "the failed program is released");
        }
    }

    @Test
    void aClosedContextRefusesWorkInsteadOfCrashing() {
        ClDevice device = OpenClBackends.requireOpenCl();
        ClContext ctx = new ClContext(device);
        ClBuffer b = ctx.buffer(64, "test");
        ctx.close();
        assertThrows(IllegalStateException.class, () -> b.write(new float[4], 0, 4, 0));
        assertThrows(IllegalStateException.class, () -> ctx.buffer(64, "after close"));
    }

    @Test
    void explicitOpenClWithAnUnknownDeviceIsAUserErrorAndAutoFallsBack() {
        OpenClBackends.requireOpenCl();
        UserError e = assertThrows(UserError.class, () -> AttentionBackends.choose("opencl", "no-such-device-xyz"));
        assertTrue(e.getMessage().contains("matches no device name") && e.getMessage().contains("#0"), e.getMessage());
        assertSame(AttentionBackends.cpu(), AttentionBackends.choose("auto", "no-such-device-xyz"));
        assertSame(AttentionBackends.cpu(), AttentionBackends.choose("cpu", null));
        assertTrue(AttentionBackends.choose("opencl", "0").description().startsWith("opencl, platform"));
        boolean anyGpu = OpenClBackends.devices().stream().anyMatch(ClDevice::isGpu);
        AttentionBackend auto = AttentionBackends.choose("auto", null);
        assertEquals(anyGpu, auto != AttentionBackends.cpu(), "auto takes a GPU device and only a GPU device: " + auto.description());
    }
}
