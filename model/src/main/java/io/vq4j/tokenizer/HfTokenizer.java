package io.vq4j.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vq4j.core.InputException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * A Hugging Face {@code tokenizer.json} with a BPE model, as the {@code tokenizers} library
 * encodes it: added tokens are cut out of the text first, each remaining segment is
 * normalized, pre-tokenized into words, and each word is BPE-encoded. Covers the
 * sentencepiece-style files (Llama-2, Mistral: Prepend/Replace normalizer or Metaspace,
 * byte_fallback) and the byte-level ones (GPT-2, Llama-3, Qwen2: Split + ByteLevel).
 *
 * <p>BOS and EOS come from {@code tokenizer_config.json} beside the file when it names them,
 * else from the post_processor template; a model without a BOS (Qwen2) never gets one.
 */
public final class HfTokenizer implements Tokenizer {
    /** EOS names tried when neither the config nor the template says (Llama-2, Llama-3, GPT-2/Qwen2). */
    private static final List<String> EOS_GUESSES = List.of("</s>", "<|end_of_text|>", "<|endoftext|>");

    private final AddedTokens rawAdded;
    private final AddedTokens normalizedAdded;
    private final UnaryOperator<String> normalizer;
    private final HfPreTokenizer preTokenizer;
    private final HfBpe model;
    private final String[] tokens;
    private final Map<String, Integer> addedIds;
    private final HfDecoder decoder;
    private final int bos;
    private final int eos;
    private final boolean addBosByDefault;

    private HfTokenizer(Path file, JsonNode root, JsonNode config) {
        this.model = HfBpe.parse(root.get("model"), file);
        this.normalizer = HfNormalizer.parse(root.get("normalizer"), file);
        this.preTokenizer = HfPreTokenizer.parse(root.get("pre_tokenizer"), file);
        List<AddedTokens.Token> added = parseAdded(root.path("added_tokens"), file);
        this.addedIds = new HashMap<>();
        long size = model.vocab().values().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1L;
        for (AddedTokens.Token t : added) {
            addedIds.put(t.content(), t.id());
            size = Math.max(size, t.id() + 1L);
        }
        int declared = model.vocab().size() + added.size();
        if (size > declared) {
            // ids index arrays of the vocabulary's size: a stray huge id must not allocate gigabytes
            throw InputException.at(file, "the file declares " + declared + " tokens (model.vocab and added_tokens)"
                    + " but an id of " + (size - 1) + ": ids must number the tokens");
        }
        this.rawAdded = new AddedTokens(added.stream().filter(t -> !t.normalized()).toList());
        this.normalizedAdded = new AddedTokens(added.stream().filter(AddedTokens.Token::normalized).toList());
        this.tokens = new String[(int) size];
        model.vocab().forEach((piece, id) -> tokens[id] = piece);
        addedIds.forEach((piece, id) -> tokens[id] = piece);
        this.decoder = HfDecoder.parse(root.get("decoder"), tokens, file);

        Template template = template(root.get("post_processor"), file);
        Path configFile = file.resolveSibling("tokenizer_config.json");
        if (config != null && config.has("bos_token")) {
            this.bos = configToken(config.get("bos_token"), configFile, "bos_token");
        } else {
            this.bos = template.bos;
        }
        if (config != null && config.has("eos_token")) {
            this.eos = configToken(config.get("eos_token"), configFile, "eos_token");
        } else if (template.eos >= 0) {
            this.eos = template.eos;
        } else {
            this.eos = EOS_GUESSES.stream().mapToInt(this::idOf).filter(i -> i >= 0).findFirst().orElse(-1);
        }
        boolean fromConfig = config != null && config.has("add_bos_token") && !config.get("add_bos_token").isNull();
        this.addBosByDefault = bos >= 0 && (fromConfig ? config.get("add_bos_token").asBoolean() : template.bos >= 0);
    }

    /** Reads a tokenizer.json, and the tokenizer_config.json beside it when there is one. */
    public static HfTokenizer read(Path file) {
        JsonNode root = readJson(file);
        if (!root.isObject()) {
            throw InputException.at(file, "not a tokenizer.json: the top level is not an object");
        }
        Path configFile = file.resolveSibling("tokenizer_config.json");
        JsonNode config = Files.isRegularFile(configFile) ? readJson(configFile) : null;
        return new HfTokenizer(file, root, config);
    }

    private static JsonNode readJson(Path file) {
        try {
            return new ObjectMapper().readTree(file.toFile());
        } catch (JsonProcessingException e) {
            String where = e.getLocation() == null ? "" : " at line " + e.getLocation().getLineNr();
            throw InputException.at(file, "not valid JSON" + where + ": " + e.getOriginalMessage().lines().findFirst().orElse(""));
        } catch (NoSuchFileException e) {
            throw InputException.at(file, "no such file");
        } catch (IOException e) {
            throw InputException.at(file, "cannot read: " + e.getMessage());
        }
    }

    private static List<AddedTokens.Token> parseAdded(JsonNode list, Path file) {
        List<AddedTokens.Token> out = new ArrayList<>();
        for (JsonNode t : list) {
            if (!t.has("id") || !t.path("content").isTextual()) {
                throw InputException.at(file, "added_tokens entry without id and content: " + t);
            }
            if (!t.get("id").canConvertToInt() || !t.get("id").isIntegralNumber() || t.get("id").asInt() < 0) {
                throw InputException.at(file, "added_tokens entry \"" + t.get("content").asText() + "\" has id "
                        + t.get("id"));
            }
            out.add(new AddedTokens.Token(t.get("id").asInt(), t.get("content").asText(),
                    HfJson.bool(t, "single_word", false), HfJson.bool(t, "lstrip", false),
                    HfJson.bool(t, "rstrip", false), HfJson.bool(t, "normalized", false)));
        }
        return out;
    }

    /** BOS = a special token before the text in the single-sequence template, EOS = one after it. */
    private record Template(int bos, int eos) {
    }

    private Template template(JsonNode n, Path file) {
        if (HfJson.isNull(n)) {
            return new Template(-1, -1);
        }
        String type = HfJson.type(n, file, "post_processor");
        switch (type) {
            case "Sequence": {
                Template found = new Template(-1, -1);
                for (JsonNode child : n.path("processors")) {
                    Template t = template(child, file);
                    found = new Template(t.bos >= 0 ? t.bos : found.bos, t.eos >= 0 ? t.eos : found.eos);
                }
                return found;
            }
            case "ByteLevel":
                return new Template(-1, -1);
            case "BertProcessing", "RobertaProcessing":
                return new Template(n.path("cls").path(1).asInt(-1), n.path("sep").path(1).asInt(-1));
            case "TemplateProcessing": {
                int before = -1;
                int after = -1;
                boolean seenText = false;
                for (JsonNode item : n.path("single")) {
                    if (item.has("Sequence")) {
                        seenText = true;
                    } else if (item.has("SpecialToken")) {
                        String name = item.get("SpecialToken").path("id").asText();
                        JsonNode ids = n.path("special_tokens").path(name).path("ids");
                        int id = ids.size() > 0 ? ids.get(0).asInt() : idOf(name);
                        if (id < 0) {
                            throw InputException.at(file, "post_processor template names unknown special token " + name);
                        }
                        if (!seenText && before < 0) {
                            before = id;
                        } else if (seenText && after < 0) {
                            after = id;
                        }
                    }
                }
                return new Template(before, after);
            }
            default:
                throw HfJson.unsupported(file, "post_processor type " + type);
        }
    }

    /** A config token: "text", {"content": "text"}, or null for none. */
    private int configToken(JsonNode n, Path configFile, String field) {
        if (HfJson.isNull(n)) {
            return -1;
        }
        String name = n.isTextual() ? n.asText() : n.path("content").asText(null);
        int id = name == null ? -1 : idOf(name);
        if (id < 0) {
            throw InputException.at(configFile, field + " " + n + " is not a token of the tokenizer");
        }
        return id;
    }

    /** The id of a token string (added tokens first, then the BPE vocabulary), or -1. */
    public int idOf(String token) {
        Integer id = addedIds.get(token);
        return id != null ? id : model.vocab().getOrDefault(token, -1);
    }

    /** The token string of an id, as written in tokenizer.json. */
    public String token(int id) {
        return tokens[checkId(id)];
    }

    /** Whether the model's own configuration asks for a BOS in front of each text. */
    public boolean addBosByDefault() {
        return addBosByDefault;
    }

    @Override
    public int vocabSize() {
        return tokens.length;
    }

    @Override
    public int bosId() {
        return bos;
    }

    @Override
    public int eosId() {
        return eos;
    }

    @Override
    public int[] encode(String text, boolean addBos) {
        IntList out = new IntList(text.length() / 2 + 2);
        if (addBos && bos >= 0) {
            out.add(bos);
        }
        for (AddedTokens.Segment raw : rawAdded.split(text)) {
            if (raw.isToken()) {
                out.add(raw.id());
                continue;
            }
            String normalized = normalizer.apply(raw.text());
            for (AddedTokens.Segment seg : normalizedAdded.split(normalized)) {
                if (seg.isToken()) {
                    out.add(seg.id());
                    continue;
                }
                boolean atStart = raw.start() == 0 && seg.start() == 0;
                for (HfPreTokenizer.Piece word : preTokenizer.apply(new HfPreTokenizer.Piece(seg.text(), atStart))) {
                    model.encodeWord(word.text(), out);
                }
            }
        }
        return out.toArray();
    }

    @Override
    public byte[] pieceBytes(int prevToken, int token) {
        byte[] b = decoder.bytes[checkId(token)];
        if (decoder.startStrip > 0 && (prevToken == bos || prevToken < 0)) {
            int from = 0;
            while (from < decoder.startStrip && from < b.length && b[from] == ' ') {
                from++;
            }
            return Arrays.copyOfRange(b, from, b.length);
        }
        return b.clone();
    }

    private int checkId(int id) {
        if (id < 0 || id >= tokens.length) {
            throw new IllegalArgumentException("token id " + id + " outside the vocabulary of " + tokens.length);
        }
        return id;
    }
}
