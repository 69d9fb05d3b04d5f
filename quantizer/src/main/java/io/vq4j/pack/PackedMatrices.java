package io.vq4j.pack;

import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.pack.QuantizedLayer.Axis;
import io.vq4j.pack.QuantizedLayer.BlockScales;
import io.vq4j.pack.QuantizedLayer.Scalar;
import io.vq4j.pack.QuantizedLayer.Segment;
import io.vq4j.pack.QuantizedLayer.Stage;
import io.vq4j.pack.QuantizedLayer.Vector;

import java.util.ArrayList;
import java.util.List;

/** A {@link QuantizedLayer} in the kernels' flat form, for {@code Backend.upload}. */
public final class PackedMatrices {
    private PackedMatrices() {
    }

    public static PackedMatrix of(QuantizedLayer q) {
        PackedMatrix.Builder b = PackedMatrix.builder(q.rows(), q.cols());
        for (Segment s : q.segments()) {
            switch (s.encoding()) {
                case Scalar sc -> b.scalar(s.from(), s.to(), sc.bits(), sc.groupSize(), sc.codes(), sc.scales(),
                        sc.zeros());
                case Vector v -> {
                    List<PackedMatrix.Stage> stages = new ArrayList<>();
                    for (Stage st : v.stages()) {
                        stages.add(new PackedMatrix.Stage(st.k(), st.codebooks(), st.indices()));
                    }
                    BlockScales bs = v.blockScales();
                    float[] table = null;
                    if (bs != null) {
                        table = new float[1 << bs.bits()];
                        for (int c = 0; c < table.length; c++) {
                            table[c] = bs.scale(c);
                        }
                    }
                    b.vector(s.from(), s.to(), v.axis() == Axis.OUT, v.dim(), v.groupRows(), v.groupCols(), stages,
                            bs == null ? 0 : bs.blockCols(), bs == null ? 0 : bs.bits(), table,
                            bs == null ? null : bs.codes());
                }
            }
        }
        if (q.perm() != null) {
            b.permutation(q.perm());
        }
        if (q.normScale() != null) {
            b.norm(q.normScale(), q.normBias());
        }
        return b.build();
    }
}
