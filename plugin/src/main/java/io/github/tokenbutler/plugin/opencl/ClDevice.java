package io.github.tokenbutler.plugin.opencl;

import java.util.Locale;

/**
 * One OpenCL device as {@link Cl#devices} found it.
 * @param index    position in the list of all devices of all platforms (what {@code device=INDEX} means)
 * @param type     "GPU", "CPU", "accelerator" or "other"
 */
public record ClDevice(int index, long platformId, String platformName, String platformVersion, long id, String name,
                       String version, String type, long globalMemBytes, long maxAllocBytes, int computeUnits,
                       long maxWorkGroupSize, long localMemBytes) {

    public boolean isGpu() { return type.equals("GPU"); }

    /** A CPU device (e.g. PoCL): its work-items run on the host's own cores, one work-group's after another. */
    public boolean isCpu() { return type.equals("CPU"); }

    /** One line: index, type, name, platform, memory. */
    public String describe() {
        return String.format(Locale.ROOT, "#%d %s '%s' on platform '%s' (%s; %d compute units, %.1f GiB global, max allocation %.1f GiB,"
                        + " max work-group %d, %d KiB local)", index, type, name, platformName, version, computeUnits,
                globalMemBytes / (double) (1L << 30), maxAllocBytes / (double) (1L << 30), maxWorkGroupSize, localMemBytes >> 10);
    }
}
