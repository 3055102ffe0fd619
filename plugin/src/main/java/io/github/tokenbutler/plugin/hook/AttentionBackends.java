package io.github.tokenbutler.plugin.hook;

import io.github.tokenbutler.runtime.Llama3.UserError;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.ServiceLoader;

/**
 * Chooses the attention backend, once per (backend, device) request in a JVM: the {@code backend} option, else
 * the system property {@code tokenbutler.backend}, else {@code cpu}; then the provider of that name found by
 * ServiceLoader; then the CPU. One line on stderr says what was chosen (and why, when {@code auto} fell back).
 *
 * <ul>
 *   <li>{@code cpu}: the Vector API kernels (the provider named "cpu", kernel.CpuBackend).</li>
 *   <li>{@code auto}: a GPU device of an offload provider if there is one, else the CPU. A CPU OpenCL device
 *       (PoCL) is taken only when asked for (backend=opencl, or device=...).</li>
 *   <li>{@code opencl} (any provider name): that provider, or a {@link UserError} saying why it cannot run.</li>
 * </ul>
 */
public final class AttentionBackends {
    public static final String PROPERTY = "tokenbutler.backend";
    public static final String DEFAULT = "cpu";
    private static final Map<String, AttentionBackend> CHOSEN = new HashMap<>();

    private AttentionBackends() {}

    /** @param backend the option's value or null; @param device the device option or null */
    public static synchronized AttentionBackend choose(String backend, String device) {
        String requested = (backend != null ? backend : System.getProperty(PROPERTY, DEFAULT)).trim().toLowerCase(Locale.ROOT);
        String key = requested + "|" + device;
        AttentionBackend chosen = CHOSEN.get(key);
        if (chosen == null) {
            chosen = resolve(requested, device);
            CHOSEN.put(key, chosen);
        }
        return chosen;
    }

    /** The CPU backend (the provider named "cpu"): the fallback of auto, and of a device for what it does not take. */
    public static synchronized AttentionBackend cpu() {
        if (cpu == null) cpu = providers().stream().filter(p -> p.name().equals("cpu")).findFirst()
                .orElseThrow(() -> new IllegalStateException("the plugin's CPU backend provider is missing from "
                        + "META-INF/services/" + AttentionBackendProvider.class.getName()))
                .open(null, true);
        return cpu;
    }

    private static AttentionBackend cpu;

    private static List<AttentionBackendProvider> providers() {
        List<AttentionBackendProvider> all = new ArrayList<>();
        ServiceLoader.load(AttentionBackendProvider.class, AttentionBackends.class.getClassLoader()).forEach(all::add);
        return all;
    }

    private static AttentionBackend resolve(String requested, String device) {
        boolean auto = requested.equals("auto");
        for (AttentionBackendProvider provider : providers()) {
            // auto tries the offload backends; the CPU is what it falls back to.
            if (auto ? provider.name().equals("cpu") : !provider.name().equals(requested)) continue;
            try {
                AttentionBackend b = provider.open(device, !auto || device != null);
                if (b != null) {
                    log("attention backend " + requested + ": " + b.description());
                    return b;
                }
                log("attention backend auto: " + provider.name() + " has no GPU device (backend=" + provider.name()
                        + " uses a CPU device; ./tokenbutler devices lists them); using " + cpu().description());
            } catch (AttentionBackendProvider.BackendUnavailableException e) {
                if (!auto) throw new UserError("attention: backend=" + requested + " cannot run: " + e.getMessage());
                log("attention backend auto: " + provider.name() + " cannot run (" + e.getMessage() + "); using "
                        + cpu().description());
            }
            if (!auto) break;
        }
        if (auto) return cpu();
        throw new UserError("attention: unknown backend '" + requested + "' (expected auto, cpu or opencl; opencl needs the plugin's"
                + " OpenCL provider on the classpath)");
    }

    /** One line on stderr, the runtime's convention for messages beside the generated text. */
    static void log(String line) { System.err.println("tokenbutler: " + line); }
}
