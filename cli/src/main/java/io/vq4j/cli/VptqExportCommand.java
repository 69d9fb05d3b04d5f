package io.vq4j.cli;

import io.vq4j.core.InputException;
import io.vq4j.export.vptq.VptqExport;

import java.io.IOException;
import java.io.PrintWriter;

/** {@code vq export --format vptq --model PACKED --out DIR}: the VPTQ checkpoint directory ({@link VptqExport}). */
final class VptqExportCommand {
    private VptqExportCommand() {
    }

    static int run(ExportCommand c) throws IOException {
        if (c.type != null) {
            throw new InputException("--type: only with --format gguf (vptq keeps the packed model's codebooks)");
        }
        if (!c.method.equals("rtn") || c.calib != null) {
            throw new InputException("--method/--calib: only with --format gguf (vptq exports a --method vptq packed"
                    + " model as it is)");
        }
        VptqExport.Result r = VptqExport.write(c.model.model, c.out, c.model.tokenizer);
        PrintWriter o = c.spec.commandLine().getOut();
        o.printf("wrote %s: VPTQ checkpoint (quant_method vptq), %d quantized linears, %d tensors copied%n", r.dir(),
                r.vptqLayers(), r.copied());
        o.flush();
        return 0;
    }
}
