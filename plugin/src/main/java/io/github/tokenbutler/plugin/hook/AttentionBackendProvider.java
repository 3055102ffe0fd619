package io.github.tokenbutler.plugin.hook;

/**
 * An offload backend found by ServiceLoader (META-INF/services/io.github.tokenbutler.plugin.hook.AttentionBackendProvider),
 * so that the hook never links against a GPU library it may not have.
 */
public interface AttentionBackendProvider {
    /** The {@code backend=} value that selects it, e.g. "opencl". */
    String name();

    /**
     * Opens the backend on a device.
     * @param device   the {@code device=} option (an index or a name substring), or null
     * @param explicit the user asked for this backend by name; under {@code auto} (false) only a GPU device is
     *                 taken, and null is returned when there is none
     * @throws BackendUnavailableException with a one-line reason when the backend cannot run here
     */
    AttentionBackend open(String device, boolean explicit);

    /** Why a backend cannot run: no library, no platform, no device, a kernel that does not build, no memory. */
    final class BackendUnavailableException extends RuntimeException {
        public BackendUnavailableException(String message, Throwable cause) { super(message, cause); }
    }
}
