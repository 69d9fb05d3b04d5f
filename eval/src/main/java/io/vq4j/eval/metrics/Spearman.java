package io.vq4j.eval.metrics;

import java.util.Arrays;
import java.util.Comparator;

/**
 * Spearman's rank correlation: the Pearson correlation of the ranks, ties given the mean of
 * the ranks they span (so it is exact with ties, not the 1 − 6Σd²/(n(n²−1)) shortcut).
 */
public final class Spearman {
    private Spearman() {
    }

    /** Ranks 1..n in increasing order of value; tied values share their mean rank. NaN is refused. */
    public static double[] ranks(double[] v) {
        int n = v.length;
        for (double x : v) {
            if (Double.isNaN(x)) {
                throw new IllegalArgumentException("ranks: NaN value");
            }
        }
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        Arrays.sort(order, Comparator.comparingDouble(i -> v[i]));
        double[] r = new double[n];
        int i = 0;
        while (i < n) {
            int j = i;
            while (j + 1 < n && Double.compare(v[order[j + 1]], v[order[i]]) == 0) {
                j++;
            }
            double mean = (i + j) / 2.0 + 1;
            for (int k = i; k <= j; k++) {
                r[order[k]] = mean;
            }
            i = j + 1;
        }
        return r;
    }

    /** ρ of a and b; NaN when fewer than 2 values or when either is constant. */
    public static double rho(double[] a, double[] b) {
        if (a.length != b.length) {
            throw new IllegalArgumentException("rho: " + a.length + " and " + b.length + " values");
        }
        if (a.length < 2) {
            return Double.NaN;
        }
        double[] ra = ranks(a);
        double[] rb = ranks(b);
        double ma = mean(ra);
        double mb = mean(rb);
        double sab = 0;
        double saa = 0;
        double sbb = 0;
        for (int i = 0; i < ra.length; i++) {
            sab += (ra[i] - ma) * (rb[i] - mb);
            saa += (ra[i] - ma) * (ra[i] - ma);
            sbb += (rb[i] - mb) * (rb[i] - mb);
        }
        return saa == 0 || sbb == 0 ? Double.NaN : sab / Math.sqrt(saa * sbb);
    }

    private static double mean(double[] x) {
        double s = 0;
        for (double v : x) {
            s += v;
        }
        return s / x.length;
    }
}
