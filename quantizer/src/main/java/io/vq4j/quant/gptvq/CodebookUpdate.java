package io.vq4j.quant.gptvq;

import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.Segment;
import io.vq4j.kernels.packed.Stage;
import io.vq4j.kernels.packed.StageValues;
import io.vq4j.pack.Codebooks;
import io.vq4j.quant.method.LayerProblem;

import java.util.List;

/**
 * GPTVQ's codebook update (appendix A): with every index fixed, choose the codebook entries θ
 * that minimise f(θ) = tr((W − Q(θ)) H (W − Q(θ))ᵀ), Q(θ) the lookup (times the block scale).
 * f is a convex quadratic; its normal equations M θ = b have M θ = S(L(θ) H) and b = S(W H),
 * L the lookup and S its adjoint (the scaled scatter-add onto the entries). They are solved by
 * conjugate gradients from the current codebook, in double, each step one rows×cols×cols gemm
 * on the backend (H, symmetric bit for bit, goes in as its own transpose: the CPU backend then
 * makes no transposed copy of it and the product has the same bits); then the codebook is rounded to its storage format. The result is kept only
 * if the rounded codebook lowers f.
 */
final class CodebookUpdate {
    static final int ITERATIONS = 25;

    private CodebookUpdate() {
    }

    static PackedMatrix improve(LayerProblem p, PackedMatrix q, float[] scaleOf) {
        Segment.Vector v = (Segment.Vector) q.segments().getFirst();
        Stage st = q.stages(v).getFirst();
        int[] indices = q.indices(v, st);
        float[] codebooks = q.codebooks(v, st);
        int rows = q.rows();
        int cols = q.cols();
        int d = v.dim();
        int k = st.k();
        int colBlocks = cols / v.groupCols();
        int groups = v.groups(rows);
        int size = groups * k * d;
        int perRow = cols / d;
        // entry of each weight
        int[] entry = new int[rows * cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                int g = (r / v.groupRows()) * colBlocks + c / v.groupCols();
                entry[r * cols + c] = (g * k + indices[r * perRow + c / d]) * d + c % d;
            }
        }
        float[] hf = p.hessianAsFloat(); // the calibration's own float H where it gave it, else a rounding
        boolean sym = LayerProblem.symmetric(hf, cols);
        float[] w = p.weight();
        double[] b = scatter(times(p, w, hf, sym, rows, cols), entry, scaleOf, size);
        double[] x = new double[size];
        for (int i = 0; i < size; i++) {
            x[i] = codebooks[i];
        }
        double[] r = sub(b, apply(p, x, entry, scaleOf, hf, sym, rows, cols, size));
        double[] dir = r.clone();
        double rr = dot(r, r);
        double rr0 = rr;
        for (int it = 0; it < ITERATIONS && rr > 1e-20 * rr0 && rr > 0; it++) {
            double[] md = apply(p, dir, entry, scaleOf, hf, sym, rows, cols, size);
            double denom = dot(dir, md);
            if (!(denom > 0)) {
                break;
            }
            double alpha = rr / denom;
            for (int i = 0; i < size; i++) {
                x[i] += alpha * dir[i];
                r[i] -= alpha * md[i];
            }
            double next = dot(r, r);
            double beta = next / rr;
            rr = next;
            for (int i = 0; i < size; i++) {
                dir[i] = r[i] + beta * dir[i];
            }
        }
        float[] book = new float[size];
        for (int i = 0; i < size; i++) {
            book[i] = (float) x[i];
        }
        float[] scales = Codebooks.round(book, groups, k, d, st.format());
        StageValues ns = new StageValues(k, st.format(), book, scales, indices);
        PackedMatrix nq = PackedMatrix.builder(rows, cols).method(q.method()).vector(v.role(), v.from(), v.to(),
                v.axis(), d, v.groupRows(), v.groupCols(), List.of(ns), q.blockScaleValues(v)).build();
        double before = objective(p, w, q.dequantize(), hf, sym, rows, cols);
        double after = objective(p, w, nq.dequantize(), hf, sym, rows, cols);
        return after < before ? nq : q;
    }

    static double objective(LayerProblem p, float[] w, float[] q, float[] hf, boolean sym, int rows, int cols) {
        float[] delta = new float[w.length];
        for (int i = 0; i < w.length; i++) {
            delta[i] = w[i] - q[i];
        }
        float[] dh = times(p, delta, hf, sym, rows, cols);
        double s = 0;
        for (int i = 0; i < delta.length; i++) {
            s += (double) delta[i] * dh[i];
        }
        return s;
    }

    private static float[] times(LayerProblem p, float[] a, float[] hf, boolean sym, int rows, int cols) {
        float[] out = new float[rows * cols];
        p.backend().gemm(false, sym, rows, cols, cols, 1f, a, hf, 0f, out);
        return out;
    }

    /** M θ = S(L(θ) H). */
    private static double[] apply(LayerProblem p, double[] theta, int[] entry, float[] scaleOf, float[] hf,
                                  boolean sym, int rows, int cols, int size) {
        float[] l = new float[rows * cols];
        for (int i = 0; i < l.length; i++) {
            l[i] = (float) (theta[entry[i]] * scaleOf[i]);
        }
        return scatter(times(p, l, hf, sym, rows, cols), entry, scaleOf, size);
    }

    private static double[] scatter(float[] a, int[] entry, float[] scaleOf, int size) {
        double[] out = new double[size];
        for (int i = 0; i < a.length; i++) {
            out[entry[i]] += (double) a[i] * scaleOf[i];
        }
        return out;
    }

    private static double[] sub(double[] a, double[] b) {
        double[] o = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            o[i] = a[i] - b[i];
        }
        return o;
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }
}
