package io.vq4j.kernels.cuda;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.ValueLayout;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The C functions one binding class calls in one library, each with its FFM descriptor: declared
 * once here and bound by name ({@link NativeLibrary#function(Downcalls, String)}), so that
 * CudaBindingsTest can check every declaration against the C prototype in the real header and
 * the symbol in the real library without a GPU.
 *
 * <p>{@link #DEVICE_POINTER} is a device address passed as a 64-bit integer where the C
 * parameter is a pointer (cuBLAS's and cuSOLVER's matrices): the same register on every 64-bit
 * ABI, and the test accepts it only for a pointer or a 64-bit integer (CUdeviceptr).
 */
final class Downcalls {
    /** A device address where C declares a pointer (T *) or a CUdeviceptr. */
    static final ValueLayout.OfLong DEVICE_POINTER = JAVA_LONG.withName("device pointer");

    /** The header that declares these functions (cuda.h, nvrtc.h, cublas_api.h, cusolverDn.h). */
    final String header;
    /** The library's file stem (libcuda, libnvrtc, libcublas, libcusolver). */
    final String library;
    private final Map<String, FunctionDescriptor> byName = new LinkedHashMap<>();

    Downcalls(String header, String library) {
        this.header = header;
        this.library = library;
    }

    /** Declares {@code ret name(args...)}; ret null for void. */
    Downcalls add(String name, MemoryLayout ret, MemoryLayout... args) {
        if (byName.putIfAbsent(name, ret == null ? FunctionDescriptor.ofVoid(args)
                : FunctionDescriptor.of(ret, args)) != null) {
            throw new IllegalStateException(name + " is declared twice");
        }
        return this;
    }

    /** The descriptor of a declared function; a name not declared here is a bug. */
    FunctionDescriptor descriptor(String name) {
        FunctionDescriptor d = byName.get(name);
        if (d == null) {
            throw new IllegalStateException(name + " is not declared in the " + library + " downcalls");
        }
        return d;
    }

    /** Every declaration, in order. */
    Map<String, FunctionDescriptor> all() {
        return Collections.unmodifiableMap(byName);
    }
}
