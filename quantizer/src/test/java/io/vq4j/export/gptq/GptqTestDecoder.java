package io.vq4j.export.gptq;

import io.vq4j.io.SafeTensorsFile;

/**
 * The tests' own GPTQ decoder, written from the format's semantics (AutoGPTQ's QuantLinear: its
 * pack and the dequant of its torch fallback) and sharing no code with {@link GptqLayer} or
 * {@link GptqLayerReader}: W (out × in, row-major, fp32) from a layer's tensors.
 * <ul>
 * <li>qweight int32 [in·bits/32, out]: column o is a little-endian bit stream, the code of input
 * feature i in bits [i·bits, (i+1)·bits) (for 3 bits the fields of features 10 and 21 of every 32
 * straddle two words); read here one bit at a time.</li>
 * <li>qzeros int32 [groups, out·bits/32]: row g the same bit stream over outputs; the zero point
 * is the field + 1 in checkpoint format v1 ("gptq"), the field itself in v2 ("gptq_v2").</li>
 * <li>scales fp16 [groups, out]; g_idx int32 [in] (absent: i / groupSize).</li>
 * </ul>
 * W[o, i] = scales[g_idx[i], o] · (q[i, o] − zero[g_idx[i], o]).
 */
final class GptqTestDecoder {
    private GptqTestDecoder() {
    }

    /** @param groupSize used only when the layer has no g_idx (−1: one group) */
    static float[] decode(SafeTensorsFile f, String name, int bits, int groupSize, boolean v1) {
        long[] qs = f.info(name + ".qweight").shape();
        int out = (int) qs[1];
        int in = (int) (qs[0] * 32 / bits);
        int[] qweight = f.ints(name + ".qweight");
        int[] qzeros = f.ints(name + ".qzeros");
        int zeroWords = (int) f.info(name + ".qzeros").shape()[1];
        float[] scales = f.floats(name + ".scales");
        int[] gIdx = new int[in];
        if (f.contains(name + ".g_idx")) {
            gIdx = f.ints(name + ".g_idx");
        } else {
            for (int i = 0; i < in; i++) {
                gIdx[i] = groupSize <= 0 ? 0 : i / groupSize;
            }
        }
        float[] w = new float[out * in];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) {
                int q = 0;
                for (int b = 0; b < bits; b++) {
                    int bit = i * bits + b;
                    q |= ((qweight[(bit / 32) * out + o] >>> (bit % 32)) & 1) << b;
                }
                int g = gIdx[i];
                int z = 0;
                for (int b = 0; b < bits; b++) {
                    int bit = o * bits + b;
                    z |= ((qzeros[g * zeroWords + bit / 32] >>> (bit % 32)) & 1) << b;
                }
                if (v1) {
                    z += 1;
                }
                w[o * in + i] = scales[g * out + o] * (q - z);
            }
        }
        return w;
    }
}
