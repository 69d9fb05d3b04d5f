package io.vq4j.quant.job;

import io.vq4j.core.InputException;
import io.vq4j.model.LinearGroup;
import io.vq4j.model.LlamaConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The heap a quantize run needs at its peak, estimated before it starts, so that a run that
 * cannot fit is refused with one line instead of an OutOfMemoryError minutes or hours in
 * (`--calib-samples 4000000 --calib-len 512` used to be one). The peak is the larger of two
 * phases: reading the calibration text (the file's bytes and its decoded string, about 3 bytes
 * a byte, beside the tokens) and calibrating: the tokens and the activations of every sequence
 * (n × L × dim floats, held for the whole run), the largest Hessian as a layer is quantized
 * (w × w, its double and float copies), one block's weights as floats (unquantized and
 * quantized), the largest layer's working set (its difference to the dequantized weights and
 * that difference times H: two floats per weight) and one sequence's activations inside the
 * block. Not counted: a method's own working set, the codebooks shared across layers, and what
 * the process holds already (the model, for a llama2.c or GGUF source), which the free memory
 * it is compared with accounts for. So the estimate errs low: a run it refuses needs at least
 * this much; one it lets through can still need more.
 */
final class MemoryEstimate {
    /** One term of the estimate. */
    record Part(String what, long bytes) {
    }

    private MemoryEstimate() {
    }

    /** The terms of the calibrating phase. */
    static List<Part> parts(LlamaConfig c, long n, long len) {
        long dim = c.dim();
        long q = c.qDim();
        long kv = c.kvDim();
        long hidden = c.hiddenDim();
        long w = 0;
        for (LinearGroup g : LinearGroup.values()) {
            w = Math.max(w, g.inputWidth(c));
        }
        long blockWeights = q * dim + 2 * kv * dim + dim * q + 3 * hidden * dim;
        long largestLayer = Math.max(Math.max(q * dim, dim * q), hidden * dim);
        long heads = Math.min(c.nHeads(), Runtime.getRuntime().availableProcessors());
        long sequence = add(mul(len, 3 * dim + 2 * q + 2 * kv + 2 * hidden, 4),
                mul(heads, add(mul(len, len), mul(len, 4, c.headDim())), 4));
        List<Part> parts = new ArrayList<>();
        parts.add(new Part("calibration activations", mul(n, len, dim, 4)));
        parts.add(new Part("calibration tokens", mul(n, len, 4)));
        parts.add(new Part("largest Hessian", mul(w, w, 12)));
        parts.add(new Part("a block's weights", mul(blockWeights, 8)));
        parts.add(new Part("largest layer's working set", mul(largestLayer, 8)));
        parts.add(new Part("one sequence in the block", sequence));
        return parts;
    }

    /** The terms of the larger phase: the text read beside the tokens, or everything calibration holds. */
    static List<Part> peak(LlamaConfig c, long n, long len, long calibTextBytes) {
        List<Part> calibrating = parts(c, n, len);
        List<Part> reading = List.of(new Part("calibration text", mul(calibTextBytes, 3)),
                new Part("calibration tokens", mul(n, len, 4)));
        return total(reading) > total(calibrating) ? reading : calibrating;
    }

    static long total(List<Part> parts) {
        long t = 0;
        for (Part p : parts) {
            t = add(t, p.bytes());
        }
        return t;
    }

    /** Refuses, in one line, a run whose estimate exceeds what the JVM can still allocate. */
    static void check(LlamaConfig c, int n, int len, long calibTextBytes, Runtime rt) {
        List<Part> parts = peak(c, n, len, calibTextBytes);
        long need = total(parts);
        long max = rt.maxMemory();
        long used = rt.totalMemory() - rt.freeMemory();
        long free = max - used;
        if (need <= free) {
            return;
        }
        StringBuilder sb = new StringBuilder();
        for (Part p : parts) {
            if (p.bytes() >= need / 100 || p.bytes() >= 1L << 30) { // the terms that matter
                sb.append(sb.isEmpty() ? "" : ", ").append(p.what()).append(' ').append(size(p.bytes()));
            }
        }
        throw new InputException("--calib-samples " + n + " x --calib-len " + len + ": this run needs about "
                + size(need) + " of memory (" + sb + ") but the JVM has " + size(free) + " free of its "
                + size(max) + " (Runtime.maxMemory(), -Xmx); use fewer or shorter calibration sequences or a larger"
                + " -Xmx (VQ_JAVA_OPTS)");
    }

    static String size(long bytes) {
        if (bytes >= 1L << 30) {
            return String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
        }
        return String.format(Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20));
    }

    /** Products saturate at Long.MAX_VALUE: a count that large is refused all the same. */
    private static long mul(long... f) {
        long p = 1;
        for (long x : f) {
            p = Math.multiplyHigh(p, x) != 0 || p * x < 0 ? Long.MAX_VALUE : p * x;
        }
        return p;
    }

    private static long add(long a, long b) {
        long s = a + b;
        return s < 0 ? Long.MAX_VALUE : s;
    }
}
