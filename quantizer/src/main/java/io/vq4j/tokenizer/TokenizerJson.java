package io.vq4j.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import io.vq4j.io.AtomicFiles;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a llama2.c tokenizer as a Hugging Face sentencepiece-style {@code tokenizer.json}
 * plus {@code tokenizer_config.json}. llama2.c merges the adjacent pair whose merged piece
 * has the best score; BPE merges the pair of lowest rank. Ranking every (left, right) split of
 * each piece by that piece's score, best first, makes the two agree.
 */
public final class TokenizerJson {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TokenizerJson() {
    }

    private static String piece(Llama2cTokenizer t, int id) {
        return new String(t.piece(id), StandardCharsets.UTF_8).replace(' ', '▁');
    }

    public static ObjectNode tokenizerJson(Llama2cTokenizer t) {
        int n = t.vocabSize();
        ObjectNode root = JSON.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (int id = 0; id < 3; id++) {
            ObjectNode a = added.addObject();
            a.put("id", id);
            a.put("content", piece(t, id));
            a.put("single_word", false);
            a.put("lstrip", false);
            a.put("rstrip", false);
            a.put("normalized", false);
            a.put("special", true);
        }
        ObjectNode norm = root.putObject("normalizer");
        norm.put("type", "Sequence");
        ArrayNode ns = norm.putArray("normalizers");
        ns.addObject().put("type", "Prepend").put("prepend", "▁");
        ObjectNode rep = ns.addObject().put("type", "Replace");
        rep.putObject("pattern").put("String", " ");
        rep.put("content", "▁");
        root.putNull("pre_tokenizer");
        ObjectNode post = root.putObject("post_processor");
        post.put("type", "TemplateProcessing");
        ArrayNode single = post.putArray("single");
        single.addObject().putObject("SpecialToken").put("id", piece(t, t.bosId())).put("type_id", 0);
        single.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        ArrayNode pair = post.putArray("pair");
        pair.addObject().putObject("SpecialToken").put("id", piece(t, t.bosId())).put("type_id", 0);
        pair.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        pair.addObject().putObject("Sequence").put("id", "B").put("type_id", 1);
        ObjectNode sp = post.putObject("special_tokens").putObject(piece(t, t.bosId()));
        sp.put("id", piece(t, t.bosId()));
        sp.putArray("ids").add(t.bosId());
        sp.putArray("tokens").add(piece(t, t.bosId()));
        ObjectNode dec = root.putObject("decoder");
        dec.put("type", "Sequence");
        ArrayNode ds = dec.putArray("decoders");
        ObjectNode dr = ds.addObject().put("type", "Replace");
        dr.putObject("pattern").put("String", "▁");
        dr.put("content", " ");
        ds.addObject().put("type", "ByteFallback");
        ds.addObject().put("type", "Fuse");
        ds.addObject().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0);

        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.put("unk_token", piece(t, 0));
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", true);
        model.put("byte_fallback", true);
        model.put("ignore_merges", false);
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int id = 0; id < n; id++) {
            vocab.putIfAbsent(piece(t, id), id);
        }
        ObjectNode v = model.putObject("vocab");
        vocab.forEach(v::put);
        ArrayNode merges = model.putArray("merges");
        for (String[] m : merges(t, vocab)) {
            merges.addArray().add(m[0]).add(m[1]);
        }
        return root;
    }

    /** Every split of a merged piece into two vocabulary pieces, best merged score first. */
    static List<String[]> merges(Llama2cTokenizer t, Map<String, Integer> vocab) {
        record Merge(String a, String b, float score, int id, int split) {
        }
        List<Merge> all = new ArrayList<>();
        for (int id = 3 + 256; id < t.vocabSize(); id++) {
            String p = piece(t, id);
            if (vocab.get(p) != id) {
                continue;
            }
            int[] cps = p.codePoints().toArray();
            int offset = 0;
            for (int k = 1; k < cps.length; k++) {
                offset += Character.charCount(cps[k - 1]);
                String a = p.substring(0, offset);
                String b = p.substring(offset);
                if (vocab.containsKey(a) && vocab.containsKey(b)) {
                    all.add(new Merge(a, b, t.score(id), id, k));
                }
            }
        }
        all.sort(Comparator.comparingDouble((Merge m) -> -m.score).thenComparingInt(Merge::id)
                .thenComparingInt(Merge::split));
        return all.stream().map(m -> new String[] {m.a, m.b}).toList();
    }

    public static ObjectNode tokenizerConfig(Llama2cTokenizer t) {
        ObjectNode c = JSON.createObjectNode();
        c.put("tokenizer_class", "LlamaTokenizerFast");
        c.put("bos_token", piece(t, t.bosId()));
        c.put("eos_token", piece(t, t.eosId()));
        c.put("unk_token", piece(t, 0));
        c.put("add_bos_token", true);
        c.put("add_eos_token", false);
        c.put("model_max_length", 1_000_000);
        return c;
    }

    /** Writes tokenizer.json and tokenizer_config.json into {@code dir}, each atomically. */
    public static void write(Llama2cTokenizer t, Path dir) throws IOException {
        writeAtomically(dir.resolve("tokenizer.json"), JSON.writeValueAsString(tokenizerJson(t)));
        writeAtomically(dir.resolve("tokenizer_config.json"),
                JSON.writerWithDefaultPrettyPrinter().writeValueAsString(tokenizerConfig(t)));
    }

    private static void writeAtomically(Path target, String content) throws IOException {
        Path tmp = AtomicFiles.tempFileBeside(target);
        try {
            Files.writeString(tmp, content);
            AtomicFiles.commit(tmp, target);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
