package io.github.tokenbutler.plugin.opencl;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The OpenCL devices the tests run on, every one found. Without any OpenCL {@link #requireOpenCl} skips with the
 * reason, except when CI=true: CI installs PoCL, so no OpenCL there is a failure, not a skip.
 */
final class OpenClBackends {
    private static List<ClDevice> devices;
    private static String unavailable;
    private static final List<OpenClKernels> opened = new ArrayList<>();

    private OpenClBackends() {}

    static synchronized List<ClDevice> devices() {
        if (devices == null) {
            try {
                devices = Cl.devices();
                if (devices.isEmpty()) unavailable = "the OpenCL loader " + Cl.libraryName() + " lists no device (install pocl-opencl-icd;"
                        + " PoCL needs a writable POCL_CACHE_DIR, now " + System.getenv("POCL_CACHE_DIR") + ")";
            } catch (ClException | LinkageError e) {
                devices = List.of();
                unavailable = e.getMessage();
            }
        }
        return devices;
    }

    /** Skips (or, under CI=true, fails) a test that needs an OpenCL device. */
    static ClDevice requireOpenCl() {
        List<ClDevice> d = devices();
        if (d.isEmpty()) {
            String why = "no OpenCL: " + unavailable;
            if ("true".equals(System.getenv("CI"))) fail(why + " -- CI installs PoCL (.ci/run), so OpenCL tests must not be skipped there");
            assumeTrue(false, why);
        }
        return d.getFirst();
    }

    /** One OpenCL kernel set per device, shared by the tests of a JVM; skips (or fails under CI) without OpenCL. */
    static synchronized List<OpenClKernels> kernels() {
        requireOpenCl();
        if (opened.isEmpty()) for (ClDevice d : devices()) opened.add(new OpenClKernels(d));
        return opened;
    }
}
