package io.vq4j.export.gptq;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vq4j.io.DType;
import io.vq4j.io.SafeTensorsDirectory;
import io.vq4j.io.SafeTensorsFile;
import io.vq4j.io.SafeTensorsWriter;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.PackedMatrixBuilder;
import io.vq4j.pack.PackedLayers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Export → decode of scalar packed layers through {@link GptqExport#write} for every setting the
 * GPTQ format has: 2, 3, 4 and 8 bits, without and with act-order (desc_act, a permutation as
 * g_idx), groups of 32 and 128 and one group per row (group_size −1), symmetric and asymmetric,
 * checkpoint formats v1 (zero − 1 stored) and v2. The tests' own decoder ({@link GptqTestDecoder})
 * and the import ({@link GptqLayerReader}) give exactly vq4j's own dequantized packed weights:
 * nothing is rounded, because vq4j's scales are fp16 values already (the format's fp16 scales
 * force no rounding) and its zero points integers. The 3-bit words are also checked against the
 * reference's word layout written out by hand.
 */
class GptqLayerTest {
    private static final String NAME = "model.layers.0.mlp.up_proj";
    private static final int OUT = 64;
    private static final int IN = 256;

    @Test
    void everyBitWidthGroupSizeActOrderAndFormatDecodesToThePackedWeights(@TempDir Path dir) throws IOException {
        long seed = 1;
        int cases = 0;
        for (int bits : new int[] {2, 3, 4, 8}) {
            for (int group : new int[] {32, 128, -1}) {
                for (boolean actOrder : new boolean[] {false, true}) {
                    for (boolean sym : new boolean[] {false, true}) {
                        for (GptqExport.Format format : GptqExport.Format.values()) {
                            PackedMatrix m = layer(OUT, IN, bits, group, actOrder, sym, format, seed++);
                            Path out = export(dir.resolve("c" + cases++), m, format);
                            String what = bits + " bits, group " + group + (actOrder ? ", act-order" : "")
                                    + (sym ? ", sym" : ", asym") + ", " + format.key();
                            check(out, m, bits, group, actOrder, sym, format, what);
                        }
                    }
                }
            }
        }
        assertEquals(96, cases);
    }

    /** 3-bit qweight words laid out as AutoGPTQ's pack loop writes them (codes 10 and 21 split over two words). */
    @Test
    void threeBitCodesStraddleWordsAsTheReferencePackLoopDoes(@TempDir Path dir) throws IOException {
        int out = 32;
        int in = 64;
        Random r = new Random(42);
        int[] codes = new int[out * in]; // stored order = original order (no act-order)
        for (int i = 0; i < codes.length; i++) {
            codes[i] = r.nextInt(8);
        }
        // the straddling fields of output 0 and 5 set to 0b101 and 0b110 / 0b011 (both halves non-zero)
        for (int base : new int[] {0, 32}) {
            codes[0 * in + base + 10] = 0b101;
            codes[0 * in + base + 21] = 0b110;
            codes[5 * in + base + 10] = 0b110;
            codes[5 * in + base + 21] = 0b011;
        }
        float[] scales = new float[out];
        int[] zeros = new int[out];
        for (int o = 0; o < out; o++) {
            scales[o] = Float.float16ToFloat(Float.floatToFloat16(0.01f + r.nextFloat()));
            zeros[o] = 1 + r.nextInt(7);
        }
        zeros[10] = 0b101; // output 10's zero straddles qzeros words 0 and 1 (bits 30..32); v1 stores 0b100
        zeros[21] = 0b111; // output 21's bits 63..65; v1 stores 0b110
        PackedMatrix m = PackedMatrix.builder(out, in).method("rtn")
                .scalar("", 0, in, 3, in, false, codes, scales, zeros).build();
        Path d = export(dir.resolve("x"), m, GptqExport.Format.V1);
        try (SafeTensorsFile f = SafeTensorsFile.open(d.resolve(SafeTensorsDirectory.SINGLE))) {
            int[] qw = f.ints(NAME + ".qweight");
            assertEquals(in * 3 / 32 * out, qw.length);
            for (int o = 0; o < out; o++) {
                for (int blk = 0; blk < in / 32; blk++) {
                    int[] c = new int[32];
                    for (int j = 0; j < 32; j++) {
                        c[j] = codes[o * in + blk * 32 + j];
                    }
                    int w0 = 0;
                    int w1 = 0;
                    int w2 = 0;
                    for (int j = 0; j < 10; j++) {
                        w0 |= c[j] << (3 * j);
                        w1 |= c[11 + j] << (3 * j + 1);
                        w2 |= c[22 + j] << (3 * j + 2);
                    }
                    w0 |= c[10] << 30;
                    w1 |= (c[10] >> 2) & 1;
                    w1 |= c[21] << 31;
                    w2 |= (c[21] >> 1) & 3;
                    assertEquals(w0, qw[(blk * 3) * out + o], "word 0 of block " + blk + ", output " + o);
                    assertEquals(w1, qw[(blk * 3 + 1) * out + o], "word 1 of block " + blk + ", output " + o);
                    assertEquals(w2, qw[(blk * 3 + 2) * out + o], "word 2 of block " + blk + ", output " + o);
                }
            }
            int[] qz = f.ints(NAME + ".qzeros");
            assertEquals(3, qz.length); // one group, 32 outputs · 3 bits
            assertEquals(0b00, (qz[0] >>> 30) & 3, "low 2 bits of output 10's v1 field 0b100");
            assertEquals(1, qz[1] & 1, "high bit of output 10's v1 field 0b100");
            assertEquals(0, (qz[1] >>> 31) & 1, "low bit of output 21's v1 field 0b110");
            assertEquals(0b11, qz[2] & 3, "high 2 bits of output 21's v1 field 0b110");
            assertArrayEquals(m.dequantize(), GptqTestDecoder.decode(f, NAME, 3, -1, true));
        }
    }

    /**
     * A v1 zero field of 2^b − 1 (which AutoGPTQ's pack writes for a zero of 2^b, and vq4j's
     * export never writes) is zero 2^b, as AutoGPTQ's dequant computes it (field + 1, no wrap),
     * in the import and in the tests' decoder; written here word by word, not by GptqLayer.
     * (AutoGPTQ's QuantLinear.forward on these tensors, run outside the repository, gives row 0 =
     * 0.5 · (i % 16 − 16): −8, −7.5, …; GPTQModel's v1 → v2 conversion would not, see docs/FORMAT.md.)
     */
    @Test
    void aV1ZeroFieldOfAllOnesIsZeroTwoToTheBits(@TempDir Path dir) throws IOException {
        int out = 32;
        int in = 32;
        int[] qweight = new int[in / 8 * out]; // 4 bits: 8 codes a word, code of input i = i % 16
        for (int w = 0; w < in / 8; w++) {
            for (int o = 0; o < out; o++) {
                for (int j = 0; j < 8; j++) {
                    qweight[w * out + o] |= ((w * 8 + j) % 16) << (4 * j);
                }
            }
        }
        int[] qzeros = new int[out / 8]; // one group; field 15 for output 0, 7 (zero 8) for the others
        for (int o = 0; o < out; o++) {
            qzeros[o / 8] |= (o == 0 ? 15 : 7) << (4 * (o % 8));
        }
        float[] scales = new float[out];
        Arrays.fill(scales, 0.5f);
        SafeTensorsWriter w = new SafeTensorsWriter();
        w.addBytes(NAME + ".qweight", DType.I32, new long[] {in / 8, out}, le(qweight));
        w.addBytes(NAME + ".qzeros", DType.I32, new long[] {1, out / 8}, le(qzeros));
        w.addFloats(NAME + ".scales", DType.F16, new long[] {1, out}, scales);
        Files.createDirectories(dir);
        w.write(dir.resolve(SafeTensorsDirectory.SINGLE));
        Files.writeString(dir.resolve("config.json"), "{\"quantization_config\": {\"quant_method\": \"gptq\","
                + " \"bits\": 4, \"group_size\": -1, \"sym\": false, \"checkpoint_format\": \"gptq\"}}\n");
        float[] want = new float[out * in];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) {
                want[o * in + i] = 0.5f * (i % 16 - (o == 0 ? 16 : 8));
            }
        }
        try (SafeTensorsDirectory st = SafeTensorsDirectory.open(dir)) {
            assertArrayEquals(want, new GptqLayerReader().read(st, NAME, out, in).dequantize(), "the import");
            assertArrayEquals(want, GptqTestDecoder.decode(st.fileOf(NAME + ".qweight"), NAME, 4, -1, true),
                    "the tests' decoder");
        }
    }

    private static byte[] le(int[] v) {
        byte[] b = new byte[4 * v.length];
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().put(v);
        return b;
    }

    private static void check(Path out, PackedMatrix m, int bits, int group, boolean actOrder, boolean sym,
                              GptqExport.Format format, String what) throws IOException {
        JsonNode qc = new ObjectMapper().readTree(out.resolve("config.json").toFile())
                .path("quantization_config");
        assertEquals(bits, qc.path("bits").asInt(), what);
        assertEquals(group, qc.path("group_size").asInt(), what);
        assertEquals(actOrder, qc.path("desc_act").asBoolean(), what);
        assertEquals(sym, qc.path("sym").asBoolean(), what);
        assertEquals(format.key(), qc.path("checkpoint_format").asText(), what);
        float[] want = m.dequantize();
        try (SafeTensorsDirectory st = SafeTensorsDirectory.open(out)) {
            SafeTensorsFile f = st.fileOf(NAME + ".qweight");
            int groups = group < 0 ? 1 : IN / group;
            assertArrayEquals(new long[] {IN * bits / 32, OUT}, f.info(NAME + ".qweight").shape(), what);
            assertArrayEquals(new long[] {groups, OUT * bits / 32}, f.info(NAME + ".qzeros").shape(), what);
            assertArrayEquals(new long[] {groups, OUT}, f.info(NAME + ".scales").shape(), what);
            assertEquals("F16", f.info(NAME + ".scales").dtype().name(), what);
            assertArrayEquals(want, GptqTestDecoder.decode(f, NAME, bits, group, format == GptqExport.Format.V1),
                    "the tests' decoder: " + what);
            assertArrayEquals(want, new GptqLayerReader().read(st, NAME, OUT, IN).dequantize(), "the import: " + what);
        }
    }

    static Path export(Path dir, PackedMatrix m, GptqExport.Format format) throws IOException {
        Path packed = dir.resolve("packed");
        Files.createDirectories(packed);
        SafeTensorsWriter w = new SafeTensorsWriter();
        PackedLayers.write(NAME, m, w);
        w.write(packed.resolve(SafeTensorsDirectory.SINGLE));
        Files.writeString(packed.resolve("config.json"), "{\"architectures\": [\"LlamaForCausalLM\"],"
                + " \"quantization_config\": {\"quant_method\": \"vq4j\", \"spec\": {\"percdamp\": 0.01}}}\n");
        Path out = dir.resolve("gptq");
        GptqExport.write(packed, out, format);
        return out;
    }

    /**
     * A random scalar layer: codes over the whole grid (0 and maxq included), fp16 scales, zero
     * points 2^(b−1) (sym) or random (asym; at least 1 in format v1, which cannot hold 0, and
     * then also maxq), and for act-order a random permutation of the columns.
     */
    static PackedMatrix layer(int out, int in, int bits, int group, boolean actOrder, boolean sym,
                              GptqExport.Format format, long seed) {
        Random r = new Random(seed);
        int maxq = (1 << bits) - 1;
        int g = group < 0 ? in : group;
        int groups = in / g;
        int[] codes = new int[out * in];
        for (int i = 0; i < codes.length; i++) {
            codes[i] = r.nextInt(maxq + 1);
        }
        codes[0] = 0;
        codes[1] = maxq;
        float[] scales = new float[out * groups];
        int[] zeros = new int[out * groups];
        int low = format == GptqExport.Format.V1 ? 1 : 0;
        for (int i = 0; i < scales.length; i++) {
            scales[i] = Float.float16ToFloat(Float.floatToFloat16((r.nextFloat() + 0.001f) * 0.05f));
            zeros[i] = sym ? (maxq + 1) / 2 : low + r.nextInt(maxq + 1 - low);
        }
        if (!sym) {
            zeros[0] = low;
            zeros[1] = maxq;
        }
        PackedMatrixBuilder b = PackedMatrix.builder(out, in).method(actOrder ? "gptq" : "rtn")
                .scalar("", 0, in, bits, g, sym, codes, scales, zeros);
        if (actOrder) {
            int[] p = new int[in];
            for (int i = 0; i < in; i++) {
                p[i] = i;
            }
            for (int i = in - 1; i > 0; i--) {
                int j = r.nextInt(i + 1);
                int t = p[i];
                p[i] = p[j];
                p[j] = t;
            }
            b.permutation(p);
        }
        return b.build();
    }
}
