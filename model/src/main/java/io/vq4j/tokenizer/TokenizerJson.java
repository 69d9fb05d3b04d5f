package io.vq4j.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.core.AtomicFiles;
import io.vq4j.core.InputException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a llama2.c vocabulary as a Hugging Face sentencepiece-style {@code tokenizer.json}
 * (plus {@code tokenizer_config.json}) that the {@code tokenizers} library, and
 * {@link HfTokenizer}, encode to the same ids as llama2.c.
 *
 * <p>Mapping: llama2.c's dummy-prefix space is the normalizer's Prepend("▁") (HF also skips it
 * for empty text), spaces become "▁" in text and pieces, byte fallback ids are the
 * {@code <0xXX>} pieces, and the first-space strip after BOS is the decoder's Strip(1).
 *
 * <p>Merges: llama2.c merges the adjacent pair whose concatenation is the best-scoring piece;
 * HF merges the pair with the lowest rank. Listing every (left, right) split of every piece,
 * ordered by the merged piece's score, best first, makes the two choose the same pair whenever
 * scores differ. Equal scores are where they can part: llama2.c takes the leftmost pair, HF
 * the earlier rule. Within a tie, longer merged pieces, then longer left parts, come first:
 * for Llama-2's tied space runs that reproduces llama2.c's left-to-right growth (tested on
 * runs of 0..40 spaces); tok512 has no ties.
 *
 * <p>Only BOS and EOS become added (special) tokens. {@code <unk>} stays a plain piece and
 * is left out of the config, because HF matches added tokens literally in the text and
 * WikiText writes "<unk>" everywhere, which llama2.c spells out character by character.
 */
public final class TokenizerJson {
    static final String SPACE = "\u2581";

    private TokenizerJson() {
    }

    /** Writes {@code tokenizer.json} and {@code tokenizer_config.json} into {@code directory}; returns the former. */
    public static Path write(Llama2cTokenizer tokenizer, Path directory) {
        ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        Path json = directory.resolve("tokenizer.json");
        try {
            AtomicFiles.write(directory.resolve("tokenizer_config.json"), mapper.writeValueAsBytes(config(tokenizer)));
            AtomicFiles.write(json, mapper.writeValueAsBytes(tokenizerJson(tokenizer)));
        } catch (IOException e) {
            throw InputException.at(directory, "cannot write tokenizer files: " + e.getMessage());
        }
        return json;
    }

    static ObjectNode config(Llama2cTokenizer t) {
        String[] pieces = hfPieces(t);
        ObjectNode c = new ObjectMapper().createObjectNode();
        c.put("add_bos_token", true);
        c.put("add_eos_token", false);
        c.put("bos_token", pieces[Llama2cTokenizer.BOS]);
        c.put("eos_token", pieces[Llama2cTokenizer.EOS]);
        c.put("clean_up_tokenization_spaces", false);
        // the generic fast class uses tokenizer.json as written; LlamaTokenizerFast would add
        // "<unk>" as a special token by default
        c.put("tokenizer_class", "PreTrainedTokenizerFast");
        return c;
    }

    static ObjectNode tokenizerJson(Llama2cTokenizer t) {
        String[] pieces = hfPieces(t);
        ObjectMapper m = new ObjectMapper();
        ObjectNode root = m.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (int id : new int[] {Llama2cTokenizer.BOS, Llama2cTokenizer.EOS}) {
            added.addObject().put("id", id).put("content", pieces[id]).put("single_word", false)
                    .put("lstrip", false).put("rstrip", false).put("normalized", false).put("special", true);
        }
        ObjectNode normalizer = root.putObject("normalizer").put("type", "Sequence");
        ArrayNode norms = normalizer.putArray("normalizers");
        norms.addObject().put("type", "Prepend").put("prepend", SPACE);
        ObjectNode replace = norms.addObject().put("type", "Replace");
        replace.putObject("pattern").put("String", " ");
        replace.put("content", SPACE);
        root.putNull("pre_tokenizer");
        root.set("post_processor", bosTemplate(m, pieces[Llama2cTokenizer.BOS]));
        ObjectNode decoder = root.putObject("decoder").put("type", "Sequence");
        ArrayNode decs = decoder.putArray("decoders");
        ObjectNode unspace = decs.addObject().put("type", "Replace");
        unspace.putObject("pattern").put("String", SPACE);
        unspace.put("content", " ");
        decs.addObject().put("type", "ByteFallback");
        decs.addObject().put("type", "Fuse");
        decs.addObject().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0);
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE").putNull("dropout");
        model.put("unk_token", pieces[0]);
        model.putNull("continuing_subword_prefix").putNull("end_of_word_suffix");
        model.put("fuse_unk", true).put("byte_fallback", true).put("ignore_merges", false);
        ObjectNode vocab = model.putObject("vocab");
        for (int id = 0; id < pieces.length; id++) {
            vocab.put(pieces[id], id);
        }
        ArrayNode merges = model.putArray("merges");
        for (Llama2cTokenizer.Merge mg : rankedMerges(t)) {
            merges.add(pieces[mg.left()] + " " + pieces[mg.right()]);
        }
        return root;
    }

    private static ObjectNode bosTemplate(ObjectMapper m, String bos) {
        ObjectNode pp = m.createObjectNode().put("type", "TemplateProcessing");
        ArrayNode single = pp.putArray("single");
        single.addObject().putObject("SpecialToken").put("id", bos).put("type_id", 0);
        single.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        ArrayNode pair = pp.putArray("pair");
        pair.addObject().putObject("SpecialToken").put("id", bos).put("type_id", 0);
        pair.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        pair.addObject().putObject("SpecialToken").put("id", bos).put("type_id", 1);
        pair.addObject().putObject("Sequence").put("id", "B").put("type_id", 1);
        ObjectNode special = pp.putObject("special_tokens").putObject(bos);
        special.put("id", bos);
        special.putArray("ids").add(Llama2cTokenizer.BOS);
        special.putArray("tokens").add(bos);
        return pp;
    }

    /** The merges in HF rank order: merged piece's score descending, then the tie rules above. */
    static List<Llama2cTokenizer.Merge> rankedMerges(Llama2cTokenizer t) {
        List<Llama2cTokenizer.Merge> out = new ArrayList<>();
        for (Llama2cTokenizer.Merge mg : t.merges()) {
            // BOS/EOS are renamed ("\n<s>\n" → "<s>"), so rules built on their llama2.c text do not carry over
            if (mg.left() > Llama2cTokenizer.EOS && mg.right() > Llama2cTokenizer.EOS && mg.merged() > Llama2cTokenizer.EOS) {
                out.add(mg);
            }
        }
        Comparator<Llama2cTokenizer.Merge> order = Comparator
                .comparingDouble((Llama2cTokenizer.Merge mg) -> -(t.score(mg.merged()) + 0.0f))
                .thenComparingInt(mg -> -t.piece(mg.merged()).length)
                .thenComparingInt(mg -> -t.piece(mg.left()).length)
                .thenComparingInt(Llama2cTokenizer.Merge::merged);
        out.sort(order);
        return out;
    }

    /** HF piece strings: UTF-8 text with "▁" for spaces; BOS/EOS without llama2.c's newlines. */
    static String[] hfPieces(Llama2cTokenizer t) {
        String[] out = new String[t.vocabSize()];
        Map<String, Integer> seen = new HashMap<>();
        var utf8 = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        for (int id = 0; id < out.length; id++) {
            String s;
            try {
                s = utf8.decode(ByteBuffer.wrap(t.piece(id))).toString();
            } catch (CharacterCodingException e) {
                throw InputException.at(t.source(), "piece " + id + " is not UTF-8 text; tokenizer.json cannot hold it");
            }
            if (id == Llama2cTokenizer.BOS || id == Llama2cTokenizer.EOS) {
                s = s.strip();
            } else {
                s = s.replace(" ", SPACE);
            }
            if (id >= Llama2cTokenizer.BYTE_OFFSET && id < Llama2cTokenizer.BYTE_OFFSET + 256
                    && !s.equals(String.format("<0x%02X>", id - Llama2cTokenizer.BYTE_OFFSET))) {
                throw InputException.at(t.source(), "piece " + id + " is \"" + s + "\", not the byte token <0x"
                        + String.format("%02X", id - Llama2cTokenizer.BYTE_OFFSET) + ">");
            }
            if (s.isEmpty()) {
                throw InputException.at(t.source(), "piece " + id + " is empty; tokenizer.json cannot hold it");
            }
            Integer other = seen.putIfAbsent(s, id);
            if (other != null) {
                throw InputException.at(t.source(), "pieces " + other + " and " + id + " both become \"" + s
                        + "\" in tokenizer.json");
            }
            out[id] = s;
        }
        return out;
    }
}
