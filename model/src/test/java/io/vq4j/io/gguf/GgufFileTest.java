package io.vq4j.io.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vq4j.core.InputException;
import io.vq4j.testing.GgufBytes;
import io.vq4j.testing.InputErrors;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The GGUF reader on a valid file and on every kind of damage: one input error line each, never a crash. */
class GgufFileTest {
    @TempDir
    Path dir;

    /** 16 f32 values (64 bytes), then 16 rows of one q8_0 block (544 bytes): no padding after the last tensor. */
    static final float[] A = new float[16];
    static final float[] B = new float[16 * 32];

    static {
        for (int i = 0; i < A.length; i++) {
            A[i] = i * 0.25f - 1;
        }
        for (int i = 0; i < B.length; i++) {
            B[i] = (float) Math.sin(i * 0.37) * (1 + i / 32);
        }
    }

    static byte[] data(GgmlType t, float[] x) {
        ByteBuffer b = ByteBuffer.allocate((int) t.bytes(x.length)).order(ByteOrder.LITTLE_ENDIAN);
        t.encode(x, 0, x.length, b);
        return b.array();
    }

    /** A valid file; {@code edit} may change the builder's steps by replacing the whole thing. */
    static byte[] valid() {
        return new GgufBytes().header(3, 2, 3)
                .kvString("general.architecture", "test")
                .kvU32("general.alignment", 32)
                .kvF32("test.eps", 1e-5f)
                .tensor("a", 0, 0, 16)
                .tensor("b", 8, 64, 32, 16)
                .pad(32).bytes(data(GgmlType.F32, A)).bytes(data(GgmlType.Q8_0, B)).toByteArray();
    }

    Path write(String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    @Test
    void readsMetadataTensorsAndData() throws IOException {
        Path p = write("ok.gguf", valid());
        try (GgufFile f = GgufFile.open(p)) {
            assertEquals(3, f.version());
            assertEquals("test", f.string("general.architecture"));
            assertEquals(32, f.integer("general.alignment"));
            assertEquals(1e-5f, (float) f.real("test.eps"));
            assertEquals(2, f.tensors().size());
            GgufFile.Tensor b = f.tensor("b");
            assertEquals(GgmlType.Q8_0, b.type());
            assertArrayEquals(new long[] {16, 32}, b.rowMajorShape());
            assertArrayEquals(A, f.floats(f.tensor("a")));
            float[] expected = new float[B.length];
            GgmlType.Q8_0.decode(MemorySegment.ofArray(data(GgmlType.Q8_0, B)), 0, expected, 0, B.length);
            assertArrayEquals(expected, f.floats(b));
        }
    }

    /** Every prefix of a valid file is refused with one line naming the file. */
    @Test
    void everyTruncationIsOneInputError() throws IOException {
        byte[] ok = valid();
        for (int n = 0; n < ok.length; n++) {
            Path p = write("cut.gguf", Arrays.copyOf(ok, n));
            InputException e = assertThrows(InputException.class, () -> GgufFile.open(p).close(), "cut at " + n);
            assertTrue(e.getMessage().startsWith(p + ": "), e.getMessage());
            assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        }
    }

    private void refuses(String problem, byte[] bytes) throws IOException {
        Path p = write("bad.gguf", bytes);
        InputErrors.fails(p, problem, () -> GgufFile.open(p).close());
    }

    private static byte[] header(UnaryOperator<GgufBytes> rest) {
        return rest.apply(new GgufBytes()).toByteArray();
    }

    @Test
    void refusesWrongMagicAndVersions() throws IOException {
        byte[] ok = valid();
        byte[] magic = ok.clone();
        magic[0] = 'X';
        refuses("not a GGUF file", magic);
        refuses("version 1 is not supported", header(b -> b.header(1, 0, 0)));
        refuses("version 4 is not supported", header(b -> b.header(4, 0, 0)));
    }

    @Test
    void refusesAbsurdCounts() throws IOException {
        refuses("claims 4611686018427387904 tensors", header(b -> b.header(3, 1L << 62, 0)));
        refuses("claims 1099511627776 metadata pairs", header(b -> b.header(3, 0, 1L << 40)));
        refuses("beyond any file", header(b -> b.header(3, -1, 0)));
        refuses("needs 4611686018427387904 bytes", header(b -> b.header(3, 0, 1).u64(1L << 62).bytes(new byte[16])));
        refuses("claims 1152921504606846976 elements in array 'k'",
                header(b -> b.header(3, 0, 1).string("k").u32(9).u32(8).u64(1L << 60)));
        refuses("claims 1000000 elements in array 'k'",
                header(b -> b.header(3, 0, 1).string("k").u32(9).u32(5).u64(1_000_000).u32(0)));
    }

    @Test
    void refusesBadValues() throws IOException {
        refuses("not a GGUF value type", header(b -> b.header(3, 0, 1).string("k").u32(13)));
        refuses("array of arrays", header(b -> b.header(3, 0, 1).string("k").u32(9).u32(9).u64(0)));
        refuses("BOOL of 2", header(b -> b.header(3, 0, 1).string("k").u32(7).u8(2)));
        refuses("'k' appears twice", header(b -> b.header(3, 0, 2).kvU32("k", 1).kvU32("k", 2)));
        refuses("general.alignment 48 is not a power of 2",
                header(b -> b.header(3, 0, 1).kvU32("general.alignment", 48)));
        refuses("general.alignment' is STRING, not UINT32",
                header(b -> b.header(3, 0, 1).kvString("general.alignment", "32")));
    }

    @Test
    void refusesBadTensorTables() throws IOException {
        refuses("has 5 dimensions", header(b -> b.header(3, 1, 0).tensor("t", 0, 0, 1, 1, 1, 1, 1)));
        refuses("dimension 0 of tensor 't' is 18446744073709551615",
                header(b -> b.header(3, 1, 0).tensor("t", 0, 0, -1)));
        refuses("more than 2^63 values", header(b -> b.header(3, 1, 0).tensor("t", 0, 0, 1L << 32, 1L << 32)));
        refuses("ggml type q5_K, which vq4j does not read", header(b -> b.header(3, 1, 0).tensor("t", 13, 0, 256)));
        refuses("ggml type unknown type 99", header(b -> b.header(3, 1, 0).tensor("t", 99, 0, 32)));
        refuses("rows of 31 values, not a multiple of the block size 32",
                header(b -> b.header(3, 1, 0).tensor("t", 8, 0, 31)));
        refuses("longer than 63 bytes", header(b -> b.header(3, 1, 0).tensor("x".repeat(64), 0, 0, 1)));
        refuses("tensor 't' appears twice",
                header(b -> b.header(3, 2, 0).tensor("t", 0, 0, 8).tensor("t", 0, 32, 8).pad(32).bytes(new byte[64])));
        refuses("tensor 'u' has data offset 64, expected 32",
                header(b -> b.header(3, 2, 0).tensor("t", 0, 0, 8).tensor("u", 0, 64, 8).pad(32).bytes(new byte[96])));
        refuses("truncated: tensor 't' needs bytes",
                header(b -> b.header(3, 1, 0).tensor("t", 0, 0, 1000).pad(32).bytes(new byte[100])));
    }

    @Test
    void typedGettersNameTheKey() throws IOException {
        Path p = write("ok.gguf", valid());
        try (GgufFile f = GgufFile.open(p)) {
            InputErrors.fails(p, "metadata key 'missing' is missing", () -> f.string("missing"));
            InputErrors.fails(p, "'general.architecture' is STRING, not an integer",
                    () -> f.integer("general.architecture"));
            InputErrors.fails(p, "'test.eps' is FLOAT32, not an array of STRING", () -> f.strings("test.eps"));
        }
    }

    @Test
    void emptyAndMissingFilesAreInputErrors() throws IOException {
        refuses("too short for a GGUF header", new byte[0]);
        Path none = dir.resolve("none.gguf");
        InputErrors.fails(none, "no such file", () -> GgufFile.open(none));
    }
}
