package io.github.tokenbutler.plugin.opencl;

import io.github.tokenbutler.plugin.hook.AttentionBackend;
import io.github.tokenbutler.plugin.hook.AttentionBackendProvider;

import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.stream.Collectors;

/** {@code backend=opencl}: found by ServiceLoader, picks a device and builds the kernels on it. */
public final class OpenClBackendProvider implements AttentionBackendProvider {
    @Override
    public String name() { return "opencl"; }

    @Override
    public AttentionBackend open(String device, boolean explicit) {
        List<ClDevice> devices;
        try {
            devices = Cl.devices();
        } catch (ClException | LinkageError e) {
            throw new BackendUnavailableException(e.getMessage(), e);
        }
        if (devices.isEmpty()) throw new BackendUnavailableException(noDevice(), null);
        ClDevice chosen = device != null ? pick(devices, device) : autoDevice(devices).orElse(explicit ? devices.getFirst() : null);
        if (chosen == null) return null;
        try {
            return new OpenClBackend(new OpenClKernels(chosen), explicit);
        } catch (ClException e) {
            throw new BackendUnavailableException("device #" + chosen.index() + " '" + chosen.name() + "': " + e.getMessage(), e);
        }
    }

    /** What backend=auto takes: the first GPU device; a CPU device (PoCL) only when asked for by name. */
    public static Optional<ClDevice> autoDevice(List<ClDevice> devices) {
        return devices.stream().filter(ClDevice::isGpu).findFirst();
    }

    /** Why there is no device although the OpenCL library loaded, and what to do. */
    public static String noDevice() {
        return "no OpenCL device found (" + Cl.libraryName() + " loaded, but it lists no platform"
                + " with a device: install a driver, e.g. pocl-opencl-icd for the CPU; PoCL also needs a writable cache"
                + " directory, POCL_CACHE_DIR (now " + System.getenv().getOrDefault("POCL_CACHE_DIR", "unset") + ")";
    }

    /** device=INDEX or a case-insensitive part of the device's (or its platform's) name. */
    static ClDevice pick(List<ClDevice> devices, String spec) {
        String s = spec.trim();
        if (s.chars().allMatch(Character::isDigit) && !s.isEmpty()) {
            int index = Integer.parseInt(s);
            if (index >= devices.size()) throw new BackendUnavailableException("device=" + spec + ": there are devices 0.."
                    + (devices.size() - 1) + ": " + list(devices), null);
            return devices.get(index);
        }
        String needle = s.toLowerCase(Locale.ROOT);
        return devices.stream()
                .filter(d -> d.name().toLowerCase(Locale.ROOT).contains(needle) || d.platformName().toLowerCase(Locale.ROOT).contains(needle))
                .findFirst()
                .orElseThrow(() -> new BackendUnavailableException("device=" + spec + " matches no device name: " + list(devices), null));
    }

    private static String list(List<ClDevice> devices) {
        return devices.stream().map(d -> "#" + d.index() + " '" + d.name() + "' (" + d.type() + ")").collect(Collectors.joining(", "));
    }
}
