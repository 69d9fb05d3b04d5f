package io.vq4j.export.gguf;

import io.vq4j.core.InputException;
import io.vq4j.io.gguf.GgmlType;
import io.vq4j.kernels.Backend;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.model.LlamaCheckpoint;
import io.vq4j.model.LlamaConfig;
import io.vq4j.quant.SourceModel;
import io.vq4j.quant.calib.CalibratedLayer;
import io.vq4j.quant.calib.Calibration;
import io.vq4j.quant.calib.CalibrationTokens;
import io.vq4j.quant.calib.DecoderTarget;
import io.vq4j.quant.gptq.GptqOptions;
import io.vq4j.quant.method.LayerProblem;
import io.vq4j.quant.method.LayerQuantizer;
import io.vq4j.quant.method.QuantSpec;
import io.vq4j.tokenizer.Tokenizer;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * {@code vq export --format gguf --method gptq}: every linear layer of every decoder block
 * quantized onto the GGUF type's grid by {@link GridGptq}, calibrated true-sequentially by the
 * same driver as {@code vq quantize} ({@link Calibration} over a {@link DecoderTarget}: each
 * block sees the output of the blocks before it as quantized, q/k/v share a Hessian, and so on),
 * so the Hessian of each layer is that of its real inputs in the quantized model. The embedding
 * (the tied head) has no calibration inputs and keeps llama.cpp's reference rounding.
 */
public final class GridCalibration {
    /**
     * @param samples   calibration sequences
     * @param len       tokens each (0: min(512, the model's max))
     * @param blockSize GPTQ's lazy-update width B (rounded up to whole blocks of the type)
     * @param percdamp  Hessian damping λ
     */
    public record Options(Path calib, Tokenizer tokenizer, int samples, int len, int blockSize, double percdamp,
                          long seed) {
    }

    /** One calibrated layer, for progress lines and the report. */
    public record Layer(String gguf, GgmlType type, int rows, int cols, double relativeError) {
    }

    public interface Listener {
        void layer(Layer l);
    }

    private GridCalibration() {
    }

    /** The GGUF name of decoder linear {@code linear} (self_attn.q_proj, ...) of block {@code b}. */
    static String ggufName(int b, String linear) {
        String n = switch (linear) {
            case "self_attn.q_proj" -> "attn_q";
            case "self_attn.k_proj" -> "attn_k";
            case "self_attn.v_proj" -> "attn_v";
            case "self_attn.o_proj" -> "attn_output";
            case "mlp.gate_proj" -> "ffn_gate";
            case "mlp.up_proj" -> "ffn_up";
            case "mlp.down_proj" -> "ffn_down";
            default -> throw new IllegalArgumentException("no GGUF name for " + linear);
        };
        return "blk." + b + "." + n + ".weight";
    }

    /** The decoder linears of {@code ckpt} onto {@code type}'s grid, by GGUF name (rows in the checkpoint's order). */
    public static Map<String, GridGptq.Encoded> quantize(LlamaCheckpoint ckpt, GgmlType type, Options o,
                                                         Backend backend, Listener listener) {
        LlamaConfig c = ckpt.config();
        int n = o.samples();
        int len = o.len() > 0 ? o.len() : Math.min(512, c.maxSeqLen());
        if (n < 1) {
            throw new InputException("--calib-samples: must be at least 1, got " + n);
        }
        if (len < 2 || len > c.maxSeqLen()) {
            throw new InputException("--calib-len: must be 2.." + c.maxSeqLen()
                    + " (the model's max sequence length), got " + len);
        }
        if (o.blockSize() < 1) {
            throw new InputException("--block-size: must be at least 1, got " + o.blockSize());
        }
        if (!(o.percdamp() > 0) || o.percdamp() > 1) {
            throw new InputException("--percdamp: must be in (0, 1], got " + o.percdamp());
        }
        int[] tokens = CalibrationTokens.read(o.calib(), o.tokenizer(), n, len);
        SourceModel source = new SourceModel.InMemory(ckpt);
        source.checkFinite();
        float[][] x = new float[n][];
        for (int s = 0; s < n; s++) {
            x[s] = source.embed(tokens, s * len, len);
        }
        // the spec's method options are not used here (GridGptq is the quantizer); percdamp is
        QuantSpec spec = new QuantSpec(new GptqOptions(4, 32, false, false, o.blockSize()), o.percdamp(), "none");
        Map<String, GridGptq.Encoded> byLayer = new ConcurrentHashMap<>();
        LayerQuantizer q = new LayerQuantizer() {
            @Override
            public String name() {
                return "gptq";
            }

            @Override
            public boolean needsHessian() {
                return true;
            }

            @Override
            public void validate(QuantSpec s, int rows, int cols) {
            }

            @Override
            public PackedMatrix quantize(LayerProblem p) {
                GridGptq.Encoded e = GridGptq.quantize(p, type, o.blockSize());
                byLayer.put(p.name(), e);
                // the calibration goes on with exactly the decoded weights
                return PackedMatrix.builder(p.rows(), p.cols()).method("gptq-" + e.type().ggmlName())
                        .dense(0, p.cols(), e.dequantized(), false).build();
            }
        };
        Map<String, GridGptq.Encoded> out = new LinkedHashMap<>();
        DecoderTarget target = new DecoderTarget(source, x, len, spec, Map.of());
        new Calibration(q, spec, backend, o.seed()).run(target, 0, new Calibration.Listener() {
            @Override
            public void layer(int block, CalibratedLayer l) {
                GridGptq.Encoded e = byLayer.remove(l.name());
                String name = ggufName(block, l.linear());
                out.put(name, e);
                listener.layer(new Layer(name, e.type(), l.rows(), l.cols(), l.relativeError()));
            }
        });
        return out;
    }
}
