package io.vq4j.cli;

import io.vq4j.core.InputException;
import io.vq4j.export.gptq.GptqExport;

import java.io.PrintWriter;
import java.util.Locale;

/** vq export --format gptq: a packed scalar model as a GPTQ checkpoint directory ({@link GptqExport}). */
final class GptqExportRun {
    private GptqExportRun() {
    }

    static int run(ExportCommand c, PrintWriter o) {
        if (c.type != null || c.calib != null || !c.method.equals("rtn")) {
            throw new InputException("--format gptq takes a packed model as it is: no --type, --method or --calib");
        }
        GptqExport.Format f = GptqExport.Format.byKey(c.checkpointFormat);
        if (f == null) {
            throw new InputException("--checkpoint-format: must be gptq or gptq_v2, got " + c.checkpointFormat);
        }
        GptqExport.Result r = GptqExport.write(c.model.model, c.out, f);
        o.printf(Locale.ROOT, "wrote %s: GPTQ checkpoint (%s), %d-bit, group_size %d, sym %s, desc_act %s, %d layers"
                        + " packed, %,d bytes of tensors%n", r.dir(), f.key(), r.bits(), r.groupSize(), r.symmetric(),
                r.descAct(), r.quantized().size(), r.bytes());
        for (String d : r.dense()) {
            o.printf(Locale.ROOT, "  dense fp32 (not packable; listed in dynamic as not quantized): %s%n", d);
        }
        o.flush();
        return 0;
    }
}
