package io.vq4j.kernels.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;

import static io.vq4j.kernels.cuda.Downcalls.DEVICE_POINTER;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * cuBLAS (libcublas.so, any version from 11) through the FFM API: one handle per device, SGEMM
 * on device memory. cuBLAS is column-major; {@link #sgemmRowMajor} computes the row-major
 * product as the column-major product of the transposes.
 */
final class Cublas {
    static final int CUBLAS_OP_N = 0;
    static final int CUBLAS_OP_T = 1;

    /** Every cuBLAS function vq4j calls, with its descriptor (checked against cublas_api.h by CudaBindingsTest). */
    static final Downcalls DOWNCALLS = new Downcalls("cublas_api.h", "libcublas")
            .add("cublasCreate_v2", JAVA_INT, ADDRESS)
            .add("cublasSgemm_v2", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS,
                    DEVICE_POINTER, JAVA_INT, DEVICE_POINTER, JAVA_INT, ADDRESS, DEVICE_POINTER, JAVA_INT)
            // cublasStatus_t cublasSetMatrix(int rows, int cols, int elemSize, const void *A, int lda, void *B, int ldb)
            .add("cublasSetMatrix", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, DEVICE_POINTER, JAVA_INT)
            // cublasStatus_t cublasGetMatrix(int rows, int cols, int elemSize, const void *A, int lda, void *B, int ldb)
            .add("cublasGetMatrix", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, DEVICE_POINTER, JAVA_INT, ADDRESS, JAVA_INT);

    final String path;
    private final MemorySegment handle;
    private final MethodHandle sgemm;
    /** cublasSetMatrix / cublasGetMatrix: strided host ↔ device copies (resident matrices' regions). */
    private final MethodHandle setMatrix;
    private final MethodHandle getMatrix;

    private Cublas(NativeLibrary lib, MemorySegment handle, MethodHandle sgemm, MethodHandle setMatrix,
                   MethodHandle getMatrix) {
        this.path = lib.path;
        this.handle = handle;
        this.sgemm = sgemm;
        this.setMatrix = setMatrix;
        this.getMatrix = getMatrix;
    }

    /** cuBLAS on the device (whose context is current); throws with the reason when it is not there. */
    static Cublas open(Cuda.Device device) {
        List<String> why = new ArrayList<>();
        var lib = NativeLibrary.open(System.getenv("VQ_CUBLAS"), "libcublas",
                List.of("libcublas.so", "libcublas.so.13", "libcublas.so.12", "libcublas.so.11"), why);
        if (lib.isEmpty()) {
            throw new IllegalStateException("no cuBLAS: " + String.join("; ", why));
        }
        try {
            MethodHandle create = lib.get().function(DOWNCALLS, "cublasCreate_v2");
            MethodHandle sgemm = lib.get().function(DOWNCALLS, "cublasSgemm_v2");
            MethodHandle set = lib.get().function(DOWNCALLS, "cublasSetMatrix");
            MethodHandle get = lib.get().function(DOWNCALLS, "cublasGetMatrix");
            device.enter();
            try (Arena a = Arena.ofConfined()) {
                MemorySegment h = a.allocate(ADDRESS);
                int status = (int) create.invokeExact(h);
                if (status != 0) {
                    throw new IllegalStateException("cublasCreate failed: status " + status);
                }
                return new Cublas(lib.get(), h.get(ADDRESS, 0), sgemm, set, get);
            }
        } catch (IllegalStateException e) {
            throw new IllegalStateException("cuBLAS at " + lib.get().path + ": " + e.getMessage());
        } catch (Throwable e) {
            throw new IllegalStateException("cuBLAS at " + lib.get().path + " is unusable: " + e);
        }
    }

    /**
     * Row-major C (m×n) = alpha · op(A) · op(B) + beta · C on device pointers, with A stored
     * m×k (k×m when transA) and B k×n (n×k when transB). In column-major terms the buffers hold
     * Aᵀ, Bᵀ and Cᵀ, and Cᵀ = op(B)ᵀ · op(A)ᵀ.
     */
    int sgemmRowMajor(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, long b, float beta,
                      long c) {
        return sgemmRowMajor(transA, transB, m, n, k, alpha, a, transA ? m : k, b, transB ? k : n, beta, c, n);
    }

    /** The same on sub-matrices: row-major leading dimensions lda, ldb, ldc (pointers at the views' first elements). */
    int sgemmRowMajor(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, int lda, long b, int ldb,
                      float beta, long c, int ldc) {
        try (Arena ar = Arena.ofConfined()) {
            MemorySegment al = ar.allocateFrom(JAVA_FLOAT, alpha);
            MemorySegment be = ar.allocateFrom(JAVA_FLOAT, beta);
            return (int) sgemm.invokeExact(handle, transB ? CUBLAS_OP_T : CUBLAS_OP_N,
                    transA ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, al, b, ldb, a, lda, be, c, ldc);
        } catch (Throwable e) {
            throw new IllegalStateException("cublasSgemm call failed: " + e, e);
        }
    }

    /**
     * Copies a row-major rows × cols region between host memory (contiguous, row stride cols) and
     * device memory at {@code device} with row stride {@code ld} floats: in cuBLAS's column-major
     * terms a cols × rows matrix with leading dimensions cols and ld.
     */
    int copyRegion(boolean toDevice, int rows, int cols, MemorySegment host, long device, int ld) {
        try {
            return toDevice ? (int) setMatrix.invokeExact(cols, rows, Float.BYTES, host, cols, device, ld)
                    : (int) getMatrix.invokeExact(cols, rows, Float.BYTES, device, ld, host, cols);
        } catch (Throwable e) {
            throw new IllegalStateException("cublas" + (toDevice ? "Set" : "Get") + "Matrix call failed: " + e, e);
        }
    }
}
