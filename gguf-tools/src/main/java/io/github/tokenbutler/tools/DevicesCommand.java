package io.github.tokenbutler.tools;

import io.github.tokenbutler.plugin.opencl.Cl;
import io.github.tokenbutler.plugin.opencl.ClDevice;
import io.github.tokenbutler.plugin.opencl.ClException;
import io.github.tokenbutler.plugin.opencl.OpenClBackendProvider;
import io.github.tokenbutler.plugin.opencl.OpenClKernels;

import java.util.List;
import java.util.Optional;
import java.util.Set;

/** `devices [--build]`: the OpenCL platforms and devices the attention backend can use (backend=, device=). */
public final class DevicesCommand implements Command, Main.FlagOptions {
    @Override public String name() { return "devices"; }

    @Override public String summary() { return "OpenCL platforms and devices for --attention-opt backend=opencl"; }

    @Override public String usage() {
        return """
                usage: ./tokenbutler devices [--build]
                  Lists every OpenCL device (index, type, name, platform, memory), in the order that
                  --attention-opt device=INDEX counts them, and which one backend=auto would take.
                  --build   also build the plugin's kernels on each device and say whether they compile
                """;
    }

    @Override public Set<String> flags() { return Set.of("build"); }

    @Override public int run(Args args) {
        boolean build = args.flag("build");
        args.finish(0);
        List<ClDevice> devices;
        try {
            devices = Cl.devices();
        } catch (ClException | LinkageError e) {
            System.out.println("no OpenCL: " + e.getMessage());
            System.out.println("backend=auto uses the CPU (Vector API).");
            return 0;
        }
        if (devices.isEmpty()) {
            System.out.println(OpenClBackendProvider.noDevice());
            System.out.println("backend=auto uses the CPU (Vector API).");
            return 0;
        }
        String platform = null;
        for (ClDevice d : devices) {
            if (!d.platformName().equals(platform)) {
                platform = d.platformName();
                System.out.println("platform '" + platform + "' (" + d.platformVersion() + ")");
            }
            System.out.println("  " + d.describe());
            if (build) {
                try (OpenClKernels k = new OpenClKernels(d)) {
                    System.out.println("    kernels build: ok");
                } catch (ClException e) {
                    System.out.println("    kernels build: FAILED: " + e.getMessage());
                }
            }
        }
        Optional<ClDevice> gpu = OpenClBackendProvider.autoDevice(devices);
        System.out.println(gpu.map(d -> "backend=auto takes device #" + d.index() + " '" + d.name() + "'")
                .orElse("backend=auto uses the CPU (Vector API): no GPU device; backend=opencl takes #0 '" + devices.getFirst().name() + "'"));
        return 0;
    }
}
