package io.vq4j.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.vq4j.io.gguf.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * vq4j's block codecs against llama.cpp's own: ggml's {@code quantize_row_T_ref} and
 * {@code dequantize_row_T}, called through the FFM API in libggml-base.so of the pinned
 * node-llama-cpp package (the same build that runs the exported files in {@link LlamaCppGgufTest};
 * no code of it is in the repository). The reference quantizer is what llama.cpp's own
 * quantizer runs for these types without an importance matrix (llama-quantize calls
 * {@code ggml_quantize_chunk}, which for these types calls it; both are checked), so vq4j's rtn
 * export must give the same bytes, and vq4j's decoder the same floats, bit for bit.
 * Rows: Gaussian of scales 1e-4..1e3, with offsets, sparse, constant, all-zero, a lone outlier,
 * ties in magnitude, and sub-blocks far smaller than their neighbours (whose 6-bit q4_K scale
 * rounds to 0). Skipped, like the other llama.cpp tests, without the package.
 */
class GgmlReferenceTest {
    private static final List<GgmlType> TYPES = List.of(GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0,
            GgmlType.Q4_K, GgmlType.Q6_K);
    private static final int N = 1024;
    static Arena arena;
    static SymbolLookup ggml;

    @BeforeAll
    static void load() {
        LlamaCpp.require("GgmlReferenceTest");
        Path lib = LlamaCpp.packageDir()
                .resolve("node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so");
        assumeTrue(Files.isRegularFile(lib), "no " + lib + " on this platform");
        arena = Arena.ofShared();
        ggml = SymbolLookup.libraryLookup(lib, arena);
    }

    @AfterAll
    static void close() {
        if (arena != null) {
            arena.close();
        }
    }

    private static MethodHandle row(String name) {
        return Linker.nativeLinker().downcallHandle(ggml.find(name).orElseThrow(), FunctionDescriptor.ofVoid(
                ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
    }

    static List<float[]> rows() {
        SplittableRandom rnd = new SplittableRandom(20);
        List<float[]> rows = new ArrayList<>();
        for (int trial = 0; trial < 40; trial++) {
            float scale = (float) Math.pow(10, rnd.nextDouble(-4, 3));
            float shift = trial % 3 == 0 ? (float) rnd.nextGaussian() * scale : 0f;
            float[] x = new float[N];
            for (int i = 0; i < N; i++) {
                x[i] = (float) rnd.nextGaussian() * scale + shift;
                if (trial % 5 == 1 && rnd.nextInt(4) != 0) {
                    x[i] = 0f; // sparse
                }
            }
            if (trial % 7 == 2) {
                for (int i = 0; i < N; i += 64) {
                    for (int j = 0; j < 32; j++) {
                        x[i + j] *= 1e-3f; // sub-blocks far below their super-block's largest scale
                    }
                }
            }
            rows.add(x);
        }
        float[] special = new float[N];
        for (int i = 0; i < 256; i++) {
            special[i] = 0.5f; // constant
        }
        for (int i = 256; i < 512; i++) {
            special[i] = 0f; // zero
        }
        special[600] = 1000f; // a lone outlier
        for (int i = 768; i < N; i++) {
            special[i] = (i % 2 == 0 ? 1 : -1) * (i % 3) * 0.25f; // ties in magnitude
        }
        rows.add(special);
        return rows;
    }

    @Test
    void rtnGivesTheBytesOfGgmlsReferenceQuantizerAndDecodesAsGgmlDoes() throws Throwable {
        List<float[]> rows = rows();
        MethodHandle quantizeChunk = Linker.nativeLinker().downcallHandle(
                ggml.find("ggml_quantize_chunk").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_LONG,
                        ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG,
                        ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS));
        for (GgmlType t : TYPES) {
            MethodHandle quantize = row("quantize_row_" + t.ggmlName() + "_ref");
            MethodHandle dequantize = row("dequantize_row_" + t.ggmlName());
            int bytes = (int) t.bytes(N);
            for (int r = 0; r < rows.size(); r++) {
                float[] x = rows.get(r);
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment src = a.allocateFrom(ValueLayout.JAVA_FLOAT, x);
                    MemorySegment dst = a.allocate(bytes, 16);
                    quantize.invokeExact(src, dst, (long) N);
                    byte[] theirs = dst.toArray(ValueLayout.JAVA_BYTE);
                    ByteBuffer mine = ByteBuffer.allocate(bytes).order(ByteOrder.LITTLE_ENDIAN);
                    t.encode(x, 0, N, mine);
                    assertArrayEquals(theirs, mine.array(), t.ggmlName() + ", row " + r);
                    MemorySegment chunk = a.allocate(bytes, 16);
                    long written = (long) quantizeChunk.invokeExact(t.id(), src, chunk, 0L, 1L, (long) N,
                            MemorySegment.NULL);
                    assertEquals(bytes, written);
                    assertArrayEquals(theirs, chunk.toArray(ValueLayout.JAVA_BYTE), t.ggmlName() + ", row " + r
                            + ": ggml_quantize_chunk, llama-quantize's entry, without an importance matrix");

                    MemorySegment out = a.allocate(ValueLayout.JAVA_FLOAT, N);
                    dequantize.invokeExact(dst, out, (long) N);
                    float[] decoded = new float[N];
                    t.decode(MemorySegment.ofArray(mine.array()), 0, decoded, 0, N);
                    assertArrayEquals(out.toArray(ValueLayout.JAVA_FLOAT), decoded, 0f, t.ggmlName() + ", row " + r);
                }
            }
            assertEquals(t.blockBytes(), bytes / (N / t.blockSize()));
        }
    }
}
