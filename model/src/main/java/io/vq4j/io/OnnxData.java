package io.vq4j.io;

import io.vq4j.core.InputException;
import java.util.Arrays;

/** Finding and collecting a TensorProto's data for {@link OnnxFile}: checks, raw_data, repeated fields. */
final class OnnxData {
    private OnnxData() {
    }

    /** A tensor that passed the type, shape and storage checks: its element count and raw_data, if any. */
    record Located(String source, String name, int count, ProtoWire.Span raw) {
        float[] checkCount(float[] values) {
            check(values.length);
            return values;
        }

        long[] checkCount(long[] values) {
            check(values.length);
            return values;
        }

        private void check(int found) {
            if (found != count) {
                throw InputException.at(source, "tensor '" + name + "' has " + found + " values, its shape needs " + count);
            }
        }
    }

    static Located locate(OnnxFile file, OnnxFile.Tensor t, int type, int elementBytes) {
        String src = file.source();
        String what = "tensor '" + t.name() + "'";
        if (t.dataType() != type) {
            throw InputException.at(src, what + " has data type " + t.typeName() + " (" + t.dataType() + "); only "
                    + (type == OnnxFile.FLOAT ? "FLOAT" : "INT64") + " is supported here");
        }
        long count = 1;
        for (long d : t.dims()) {
            if (d < 0) {
                throw InputException.at(src, what + " has a negative dimension " + d + " in " + Arrays.toString(t.dims()));
            }
            count = d > Integer.MAX_VALUE ? Long.MAX_VALUE : count * d; // count <= 2^31 here: no overflow
            if (count > Integer.MAX_VALUE / elementBytes) {
                throw InputException.at(src, what + " of shape " + Arrays.toString(t.dims()) + " is too large to read");
            }
        }
        ProtoWire.Span raw = null;
        boolean external = false;
        ProtoWire w = file.wire(t);
        while (w.more()) {
            switch (w.next()) {
                case 9 -> {
                    w.expect(ProtoWire.LEN, "TensorProto.raw_data");
                    raw = w.span();
                }
                case 13 -> {
                    external = true;
                    w.skip();
                }
                case 14 -> {
                    w.expect(ProtoWire.VARINT, "TensorProto.data_location");
                    external |= w.varint() == 1;
                }
                default -> w.skip();
            }
        }
        if (external) {
            throw InputException.at(src, what + " keeps its data in an external file; external data is not supported");
        }
        if (raw != null && raw.length() != count * elementBytes) {
            throw InputException.at(src, what + " has " + raw.length() + " bytes of raw_data; shape "
                    + Arrays.toString(t.dims()) + " needs " + count * elementBytes);
        }
        return new Located(src, t.name(), (int) count, raw);
    }

    /** Repeated float (fixed32) values, packed or not. */
    static final class Floats {
        private float[] a = new float[8];
        private int n;

        void read(ProtoWire w) {
            if (w.wire() == ProtoWire.LEN) {
                ProtoWire p = w.sub(w.span());
                while (p.more()) {
                    add(Float.intBitsToFloat(p.fixed32()));
                }
            } else {
                w.expect(ProtoWire.FIXED32, "repeated float");
                add(Float.intBitsToFloat(w.fixed32()));
            }
        }

        private void add(float v) {
            if (n == a.length) {
                a = Arrays.copyOf(a, n * 2);
            }
            a[n++] = v;
        }

        float[] toArray() {
            return Arrays.copyOf(a, n);
        }
    }

    /** Repeated int64 (varint) values, packed or not. */
    static final class Longs {
        private long[] a = new long[8];
        private int n;

        void read(ProtoWire w, String what) {
            if (w.wire() == ProtoWire.LEN) {
                ProtoWire p = w.sub(w.span());
                while (p.more()) {
                    add(p.varint());
                }
            } else {
                w.expect(ProtoWire.VARINT, what);
                add(w.varint());
            }
        }

        private void add(long v) {
            if (n == a.length) {
                a = Arrays.copyOf(a, n * 2);
            }
            a[n++] = v;
        }

        long[] toArray() {
            return Arrays.copyOf(a, n);
        }
    }
}
