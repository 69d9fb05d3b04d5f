package io.vq4j.kernels.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import static io.vq4j.kernels.cuda.Downcalls.DEVICE_POINTER;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * cuSOLVER's dense Cholesky (libcusolver.so, found as cuBLAS is; VQ_CUSOLVER names a file) through
 * the FFM API: one handle per device, on the null stream the backend's kernels use; potrf (the
 * factor, LAPACK's dpotrf) and Xtrtri (its inverse, dtrtri; cuSOLVER 11.4+) in double on device
 * pointers, column-major with leading dimension n. Opened on first use, with the device's
 * context current.
 */
final class Cusolver {
    static final int CUBLAS_FILL_MODE_UPPER = 1;
    static final int CUBLAS_DIAG_NON_UNIT = 0;
    static final int CUDA_R_64F = 1;

    /** Every cuSOLVER function vq4j calls, with its descriptor (checked against cusolverDn.h by CudaBindingsTest). */
    static final Downcalls DOWNCALLS = new Downcalls("cusolverDn.h", "libcusolver")
            .add("cusolverDnCreate", JAVA_INT, ADDRESS)
            .add("cusolverDnDestroy", JAVA_INT, ADDRESS)
            .add("cusolverDnSetStream", JAVA_INT, ADDRESS, ADDRESS)
            // (handle, uplo, n, double *A, lda, int *Lwork): Lwork on the host
            .add("cusolverDnDpotrf_bufferSize", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, DEVICE_POINTER, JAVA_INT,
                    ADDRESS)
            // (handle, uplo, n, double *A, lda, double *Workspace, Lwork, int *devInfo): all on the device
            .add("cusolverDnDpotrf", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, DEVICE_POINTER, JAVA_INT, DEVICE_POINTER,
                    JAVA_INT, DEVICE_POINTER)
            // (handle, uplo, diag, int64_t n, cudaDataType, void *A, int64_t lda, size_t *onDevice, size_t *onHost)
            .add("cusolverDnXtrtri_bufferSize", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT,
                    DEVICE_POINTER, JAVA_LONG, ADDRESS, ADDRESS)
            // (handle, uplo, diag, n, type, A, lda, void *bufferOnDevice, size_t, void *bufferOnHost, size_t, int *devInfo)
            .add("cusolverDnXtrtri", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT, DEVICE_POINTER,
                    JAVA_LONG, DEVICE_POINTER, JAVA_LONG, ADDRESS, JAVA_LONG, DEVICE_POINTER);

    private static final Map<Cuda.Device, Object> OPEN = new ConcurrentHashMap<>();

    final String path;
    private final MemorySegment handle;
    private final MethodHandle potrfBufferSize;
    private final MethodHandle potrf;
    private final MethodHandle trtriBufferSize;
    private final MethodHandle trtri;

    private Cusolver(NativeLibrary lib, MemorySegment handle) {
        this.path = lib.path;
        this.handle = handle;
        this.potrfBufferSize = lib.function(DOWNCALLS, "cusolverDnDpotrf_bufferSize");
        this.potrf = lib.function(DOWNCALLS, "cusolverDnDpotrf");
        this.trtriBufferSize = lib.function(DOWNCALLS, "cusolverDnXtrtri_bufferSize");
        this.trtri = lib.function(DOWNCALLS, "cusolverDnXtrtri");
    }

    /** cuSOLVER on this device (its context current), or null when it is not there ({@link #missing}). */
    static Cusolver forDevice(Cuda.Device device) {
        Object o = OPEN.computeIfAbsent(device, d -> {
            try {
                return open();
            } catch (IllegalStateException e) {
                System.err.println("cuda:" + d.info.index() + ": " + CudaLinalg.FACTOR_PROPERTY
                        + "=cusolver, but " + e.getMessage() + "; the factor runs linalg.cl (the CPU's bits)");
                return e.getMessage();
            }
        });
        return o instanceof Cusolver c ? c : null;
    }

    /** Why {@link #forDevice} found no cuSOLVER ("" when it did, or was not asked). */
    static String missing(Cuda.Device device) {
        return OPEN.get(device) instanceof String s ? s : "";
    }

    private static Cusolver open() {
        List<String> why = new ArrayList<>();
        var lib = NativeLibrary.open(System.getenv("VQ_CUSOLVER"), "libcusolver",
                List.of("libcusolver.so", "libcusolver.so.12", "libcusolver.so.11"), why);
        if (lib.isEmpty()) {
            throw new IllegalStateException("no cuSOLVER: " + String.join("; ", why));
        }
        String at = "cuSOLVER at " + lib.get().path;
        try {
            if (!lib.get().has("cusolverDnXtrtri")) {
                throw new IllegalStateException("it has no cusolverDnXtrtri (cuSOLVER 11.4 or later is needed)");
            }
            MethodHandle create = lib.get().function(DOWNCALLS, "cusolverDnCreate");
            MethodHandle destroy = lib.get().function(DOWNCALLS, "cusolverDnDestroy");
            MethodHandle setStream = lib.get().function(DOWNCALLS, "cusolverDnSetStream");
            try (Arena a = Arena.ofConfined()) {
                MemorySegment h = a.allocate(ADDRESS);
                check((int) create.invokeExact(h), "cusolverDnCreate");
                MemorySegment handle = h.get(ADDRESS, 0);
                int status = (int) setStream.invokeExact(handle, MemorySegment.NULL); // the null stream, in order
                if (status != 0) {
                    int ignored = (int) destroy.invokeExact(handle);
                    check(status, "cusolverDnSetStream");
                }
                return new Cusolver(lib.get(), handle);
            }
        } catch (IllegalStateException e) {
            throw new IllegalStateException(at + ": " + e.getMessage());
        } catch (Throwable e) {
            throw new IllegalStateException(at + " is unusable: " + e);
        }
    }

    private static void check(int status, String call) {
        if (status != 0) {
            String name = switch (status) {
                case 1 -> "CUSOLVER_STATUS_NOT_INITIALIZED";
                case 2 -> "CUSOLVER_STATUS_ALLOC_FAILED";
                case 3 -> "CUSOLVER_STATUS_INVALID_VALUE";
                case 4 -> "CUSOLVER_STATUS_ARCH_MISMATCH";
                case 6 -> "CUSOLVER_STATUS_EXECUTION_FAILED";
                case 7 -> "CUSOLVER_STATUS_INTERNAL_ERROR";
                default -> "cuSOLVER status " + status;
            };
            // ALLOC_FAILED reads as the driver's out-of-memory (the same number, 2), so the message says so
            throw new Cuda.CudaException(status == 2 ? Cuda.CUDA_ERROR_OUT_OF_MEMORY : -status, call + " failed: "
                    + name);
        }
    }

    /** Doubles of potrf's workspace for the n×n matrix at a. */
    int potrfBufferSize(int n, long a) {
        try (Arena ar = Arena.ofConfined()) {
            MemorySegment lwork = ar.allocate(JAVA_INT);
            check((int) potrfBufferSize.invokeExact(handle, CUBLAS_FILL_MODE_UPPER, n, a, n, lwork),
                    "cusolverDnDpotrf_bufferSize");
            return lwork.get(JAVA_INT, 0);
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    /** Upper Cholesky RᵀR of the column-major n×n matrix at a, in place; info (device int) > 0: not positive definite. */
    void potrf(int n, long a, long work, int lwork, long info) {
        try {
            check((int) potrf.invokeExact(handle, CUBLAS_FILL_MODE_UPPER, n, a, n, work, lwork, info),
                    "cusolverDnDpotrf");
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    /** Bytes of Xtrtri's workspaces for the n×n upper matrix at a: {on the device, on the host}. */
    long[] trtriBufferSize(int n, long a) {
        try (Arena ar = Arena.ofConfined()) {
            MemorySegment dev = ar.allocate(JAVA_LONG);
            MemorySegment host = ar.allocate(JAVA_LONG);
            check((int) trtriBufferSize.invokeExact(handle, CUBLAS_FILL_MODE_UPPER, CUBLAS_DIAG_NON_UNIT, (long) n,
                    CUDA_R_64F, a, (long) n, dev, host), "cusolverDnXtrtri_bufferSize");
            return new long[]{dev.get(JAVA_LONG, 0), host.get(JAVA_LONG, 0)};
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    /** R⁻¹ of the upper column-major n×n matrix at a, in place; info (device int) > 0: a zero on the diagonal. */
    void trtri(int n, long a, long dwork, long dbytes, MemorySegment hwork, long hbytes, long info) {
        try {
            check((int) trtri.invokeExact(handle, CUBLAS_FILL_MODE_UPPER, CUBLAS_DIAG_NON_UNIT, (long) n, CUDA_R_64F,
                    a, (long) n, dwork, dbytes, hwork, hbytes, info), "cusolverDnXtrtri");
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }
}
