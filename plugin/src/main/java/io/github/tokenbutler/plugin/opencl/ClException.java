package io.github.tokenbutler.plugin.opencl;

/**
 * An OpenCL call returned an error. The message names the call and the error ({@code clBuildProgram failed:
 * CL_BUILD_PROGRAM_FAILURE (-11)}), and for a failed build carries the build log.
 */
public final class ClException extends RuntimeException {
    private final int errorCode;

    public ClException(String message, int errorCode) {
        super(message);
        this.errorCode = errorCode;
    }

    /** Out of device or host memory: the caller may go back to the CPU path. */
    public boolean isOutOfMemory() {
        return errorCode == -4 /* CL_MEM_OBJECT_ALLOCATION_FAILURE */ || errorCode == -5 /* CL_OUT_OF_RESOURCES */
                || errorCode == -6 /* CL_OUT_OF_HOST_MEMORY */;
    }
}
