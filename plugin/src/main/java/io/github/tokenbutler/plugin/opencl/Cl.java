package io.github.tokenbutler.plugin.opencl;

import org.lwjgl.PointerBuffer;
import org.lwjgl.opencl.CL10;
import org.lwjgl.opencl.CL12;
import org.lwjgl.system.Configuration;
import org.lwjgl.system.MemoryStack;
import org.lwjgl.system.MemoryUtil;

import java.nio.ByteBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The checked entry to OpenCL: every call's error code goes through {@link #check}, which throws a
 * {@link ClException} naming the call and the error. Also loads the library and lists platforms and devices.
 *
 * <p>LWJGL is pointed at the system's ICD loader, {@code libOpenCL.so.1} (the unversioned {@code libOpenCL.so}
 * exists only with the -dev package); {@code -Dorg.lwjgl.opencl.libname=...} overrides it.
 */
public final class Cl {
    /** The library LWJGL loads unless -Dorg.lwjgl.opencl.libname says otherwise. */
    public static final String ICD_LOADER = "libOpenCL.so.1";

    private static final Map<Integer, String> ERROR_NAMES = Map.ofEntries(
            Map.entry(-1, "CL_DEVICE_NOT_FOUND"), Map.entry(-2, "CL_DEVICE_NOT_AVAILABLE"),
            Map.entry(-3, "CL_COMPILER_NOT_AVAILABLE"), Map.entry(-4, "CL_MEM_OBJECT_ALLOCATION_FAILURE"),
            Map.entry(-5, "CL_OUT_OF_RESOURCES"), Map.entry(-6, "CL_OUT_OF_HOST_MEMORY"),
            Map.entry(-7, "CL_PROFILING_INFO_NOT_AVAILABLE"), Map.entry(-8, "CL_MEM_COPY_OVERLAP"),
            Map.entry(-9, "CL_IMAGE_FORMAT_MISMATCH"), Map.entry(-10, "CL_IMAGE_FORMAT_NOT_SUPPORTED"),
            Map.entry(-11, "CL_BUILD_PROGRAM_FAILURE"), Map.entry(-12, "CL_MAP_FAILURE"),
            Map.entry(-13, "CL_MISALIGNED_SUB_BUFFER_OFFSET"), Map.entry(-14, "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST"),
            Map.entry(-15, "CL_COMPILE_PROGRAM_FAILURE"), Map.entry(-16, "CL_LINKER_NOT_AVAILABLE"),
            Map.entry(-17, "CL_LINK_PROGRAM_FAILURE"), Map.entry(-18, "CL_DEVICE_PARTITION_FAILED"),
            Map.entry(-19, "CL_KERNEL_ARG_INFO_NOT_AVAILABLE"),
            Map.entry(-30, "CL_INVALID_VALUE"), Map.entry(-31, "CL_INVALID_DEVICE_TYPE"),
            Map.entry(-32, "CL_INVALID_PLATFORM"), Map.entry(-33, "CL_INVALID_DEVICE"),
            Map.entry(-34, "CL_INVALID_CONTEXT"), Map.entry(-35, "CL_INVALID_QUEUE_PROPERTIES"),
            Map.entry(-36, "CL_INVALID_COMMAND_QUEUE"), Map.entry(-37, "CL_INVALID_HOST_PTR"),
            Map.entry(-38, "CL_INVALID_MEM_OBJECT"), Map.entry(-39, "CL_INVALID_IMAGE_FORMAT_DESCRIPTOR"),
            Map.entry(-40, "CL_INVALID_IMAGE_SIZE"), Map.entry(-41, "CL_INVALID_SAMPLER"),
            Map.entry(-42, "CL_INVALID_BINARY"), Map.entry(-43, "CL_INVALID_BUILD_OPTIONS"),
            Map.entry(-44, "CL_INVALID_PROGRAM"), Map.entry(-45, "CL_INVALID_PROGRAM_EXECUTABLE"),
            Map.entry(-46, "CL_INVALID_KERNEL_NAME"), Map.entry(-47, "CL_INVALID_KERNEL_DEFINITION"),
            Map.entry(-48, "CL_INVALID_KERNEL"), Map.entry(-49, "CL_INVALID_ARG_INDEX"),
            Map.entry(-50, "CL_INVALID_ARG_VALUE"), Map.entry(-51, "CL_INVALID_ARG_SIZE"),
            Map.entry(-52, "CL_INVALID_KERNEL_ARGS"), Map.entry(-53, "CL_INVALID_WORK_DIMENSION"),
            Map.entry(-54, "CL_INVALID_WORK_GROUP_SIZE"), Map.entry(-55, "CL_INVALID_WORK_ITEM_SIZE"),
            Map.entry(-56, "CL_INVALID_GLOBAL_OFFSET"), Map.entry(-57, "CL_INVALID_EVENT_WAIT_LIST"),
            Map.entry(-58, "CL_INVALID_EVENT"), Map.entry(-59, "CL_INVALID_OPERATION"),
            Map.entry(-60, "CL_INVALID_GL_OBJECT"), Map.entry(-61, "CL_INVALID_BUFFER_SIZE"),
            Map.entry(-62, "CL_INVALID_MIP_LEVEL"), Map.entry(-63, "CL_INVALID_GLOBAL_WORK_SIZE"),
            Map.entry(-64, "CL_INVALID_PROPERTY"), Map.entry(-65, "CL_INVALID_IMAGE_DESCRIPTOR"),
            Map.entry(-66, "CL_INVALID_COMPILER_OPTIONS"), Map.entry(-67, "CL_INVALID_LINKER_OPTIONS"),
            Map.entry(-68, "CL_INVALID_DEVICE_PARTITION_COUNT"), Map.entry(-1001, "CL_PLATFORM_NOT_FOUND_KHR"));

    private static volatile boolean libraryConfigured;

    private Cl() {}

    /** The symbolic name of an OpenCL error code, e.g. CL_OUT_OF_RESOURCES (-5). */
    public static String errorName(int code) {
        return ERROR_NAMES.getOrDefault(code, "unknown OpenCL error") + " (" + code + ")";
    }

    /** Throws a ClException naming {@code call} unless {@code code} is CL_SUCCESS. */
    public static void check(int code, String call) {
        if (code != CL10.CL_SUCCESS) throw new ClException(call + " failed: " + errorName(code), code);
    }

    /** Sets LWJGL's OpenCL library name (once, before the first OpenCL call), unless the user set it. */
    static synchronized void configureLibrary() {
        if (libraryConfigured) return;
        if (System.getProperty("org.lwjgl.opencl.libname") == null) Configuration.OPENCL_LIBRARY_NAME.set(ICD_LOADER);
        libraryConfigured = true;
    }

    /**
     * Every device of every platform, in platform order. An empty list when the ICD loader finds no platform.
     * @throws ClException when the OpenCL library cannot be loaded (error code 0) or a query fails
     */
    public static List<ClDevice> devices() {
        configureLibrary();
        // Loading the ICD and enumerating devices is where a driver initializes (PoCL: its LLVM installs signal handlers).
        return SignalHandlerGuard.around(Cl::listDevices);
    }

    private static List<ClDevice> listDevices() {
        try (MemoryStack stack = MemoryStack.stackPush()) {
            IntBuffer count = stack.mallocInt(1);
            int err;
            try {
                err = CL10.clGetPlatformIDs(null, count);
            } catch (Throwable e) { // UnsatisfiedLinkError, or LWJGL's failure to find the library
                throw new ClException("cannot load the OpenCL library " + libraryName() + " (install an ICD loader and a"
                        + " driver, e.g. apt-get install ocl-icd-libopencl1 pocl-opencl-icd): " + e.getMessage(), 0);
            }
            if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR: the loader found no ICD */) return List.of();
            check(err, "clGetPlatformIDs");
            if (count.get(0) == 0) return List.of();
            PointerBuffer platforms = stack.mallocPointer(count.get(0));
            check(CL10.clGetPlatformIDs(platforms, (IntBuffer) null), "clGetPlatformIDs");
            List<ClDevice> out = new ArrayList<>();
            for (int pi = 0; pi < platforms.capacity(); pi++) {
                long platform = platforms.get(pi);
                String platformName = platformString(platform, CL10.CL_PLATFORM_NAME);
                String platformVersion = platformString(platform, CL10.CL_PLATFORM_VERSION);
                IntBuffer nDevices = stack.mallocInt(1);
                err = CL10.clGetDeviceIDs(platform, CL10.CL_DEVICE_TYPE_ALL, null, nDevices);
                if (err == CL10.CL_DEVICE_NOT_FOUND) continue;
                check(err, "clGetDeviceIDs");
                PointerBuffer ids = stack.mallocPointer(nDevices.get(0));
                check(CL10.clGetDeviceIDs(platform, CL10.CL_DEVICE_TYPE_ALL, ids, (IntBuffer) null), "clGetDeviceIDs");
                for (int di = 0; di < ids.capacity(); di++) {
                    long id = ids.get(di);
                    long type = deviceLong(id, CL10.CL_DEVICE_TYPE);
                    out.add(new ClDevice(out.size(), platform, platformName.strip(), platformVersion.strip(), id,
                            deviceString(id, CL10.CL_DEVICE_NAME).strip(), deviceString(id, CL10.CL_DEVICE_VERSION).strip(),
                            (type & CL10.CL_DEVICE_TYPE_GPU) != 0 ? "GPU" : (type & CL10.CL_DEVICE_TYPE_CPU) != 0 ? "CPU"
                                    : (type & CL10.CL_DEVICE_TYPE_ACCELERATOR) != 0 ? "accelerator" : "other",
                            deviceLong(id, CL10.CL_DEVICE_GLOBAL_MEM_SIZE), deviceLong(id, CL10.CL_DEVICE_MAX_MEM_ALLOC_SIZE),
                            deviceInt(id, CL10.CL_DEVICE_MAX_COMPUTE_UNITS), devicePointer(id, CL10.CL_DEVICE_MAX_WORK_GROUP_SIZE),
                            deviceLong(id, CL10.CL_DEVICE_LOCAL_MEM_SIZE)));
                }
            }
            return out;
        }
    }

    /** The library name LWJGL uses (for messages). */
    public static String libraryName() {
        String p = System.getProperty("org.lwjgl.opencl.libname");
        return p != null ? p : ICD_LOADER;
    }

    /**
     * Build options under which a float division in OpenCL C is correctly rounded, as Java's is:
     * {@code -cl-fp32-correctly-rounded-divide-sqrt} where the device offers it, else division in double
     * ({@code -DDIVIDE_IN_DOUBLE}, for kernels that honour it) where it has cl_khr_fp64. A device with neither cannot
     * quantize the importance keys as the CPU does.
     */
    static String exactDivisionOptions(ClDevice device) {
        long fpConfig = deviceLong(device.id(), CL10.CL_DEVICE_SINGLE_FP_CONFIG);
        if ((fpConfig & CL12.CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) != 0) return "-cl-fp32-correctly-rounded-divide-sqrt";
        if (deviceString(device.id(), CL10.CL_DEVICE_EXTENSIONS).contains("cl_khr_fp64")) return "-DDIVIDE_IN_DOUBLE";
        throw new ClException("device '" + device.name() + "' offers neither correctly rounded float division nor cl_khr_fp64, so it"
                + " cannot quantize importance keys exactly as the CPU does", CL10.CL_INVALID_DEVICE);
    }

    private static String platformString(long platform, int param) {
        try (MemoryStack stack = MemoryStack.stackPush()) {
            PointerBuffer size = stack.mallocPointer(1);
            check(CL10.clGetPlatformInfo(platform, param, (ByteBuffer) null, size), "clGetPlatformInfo");
            ByteBuffer b = MemoryUtil.memAlloc((int) size.get(0));
            try {
                check(CL10.clGetPlatformInfo(platform, param, b, null), "clGetPlatformInfo");
                return MemoryUtil.memUTF8(b, Math.max(0, b.capacity() - 1));
            } finally {
                MemoryUtil.memFree(b);
            }
        }
    }

    static String deviceString(long device, int param) {
        try (MemoryStack stack = MemoryStack.stackPush()) {
            PointerBuffer size = stack.mallocPointer(1);
            check(CL10.clGetDeviceInfo(device, param, (ByteBuffer) null, size), "clGetDeviceInfo");
            ByteBuffer b = MemoryUtil.memAlloc((int) size.get(0));
            try {
                check(CL10.clGetDeviceInfo(device, param, b, null), "clGetDeviceInfo");
                return MemoryUtil.memUTF8(b, Math.max(0, b.capacity() - 1));
            } finally {
                MemoryUtil.memFree(b);
            }
        }
    }

    private static long deviceLong(long device, int param) {
        try (MemoryStack stack = MemoryStack.stackPush()) {
            LongBuffer v = stack.mallocLong(1);
            check(CL10.clGetDeviceInfo(device, param, v, null), "clGetDeviceInfo");
            return v.get(0);
        }
    }

    private static int deviceInt(long device, int param) {
        try (MemoryStack stack = MemoryStack.stackPush()) {
            IntBuffer v = stack.mallocInt(1);
            check(CL10.clGetDeviceInfo(device, param, v, null), "clGetDeviceInfo");
            return v.get(0);
        }
    }

    private static long devicePointer(long device, int param) {
        try (MemoryStack stack = MemoryStack.stackPush()) {
            PointerBuffer v = stack.mallocPointer(1);
            check(CL10.clGetDeviceInfo(device, param, v, null), "clGetDeviceInfo");
            return v.get(0);
        }
    }
}
