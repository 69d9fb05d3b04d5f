package io.vq4j.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vq4j.core.InputException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A Hugging Face {@code tokenizer.json} with a BPE model, in its two families:
 * sentencepiece-style (Llama-2, Mistral: spaces become "▁", a "▁" is prepended, unknown
 * characters fall back to {@code <0xXX>} byte pieces, the whole text is one word) and
 * byte-level (Llama-3, Qwen2, GPT-2: a regex splits the text, every byte is mapped to a
 * printable character, merges run within each split). Special (added) tokens are matched
 * literally in the input and never split. Merges apply lowest rank first, leftmost on ties.
 */
public final class HfTokenizer implements Tokenizer {
    /** GPT-2's split pattern, used by a ByteLevel pre-tokenizer with use_regex. */
    static final String GPT2_PATTERN =
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

    private final Path file;
    private final Map<String, Integer> vocab;
    private final String[] pieces;
    private final Map<String, Integer> ranks;
    private final List<String> specials; // longest first
    private final Map<String, Integer> specialIds;
    private final boolean byteLevel;
    private final boolean byteFallback;
    private final boolean ignoreMerges;
    private final boolean prependSpace;
    private final Pattern split;
    private final int unkId;
    private final int bosId;
    private final int eosId;

    private HfTokenizer(Path file, JsonNode root, JsonNode config) {
        this.file = file;
        JsonNode model = root.path("model");
        if (!model.path("type").asText("BPE").equals("BPE") || !model.has("vocab") || !model.has("merges")) {
            throw InputException.at(file, "model type " + model.path("type").asText("?")
                    + " is not supported (only BPE with vocab and merges)");
        }
        vocab = new HashMap<>();
        int max = -1;
        for (var it = model.get("vocab").fields(); it.hasNext(); ) {
            var e = it.next();
            vocab.put(e.getKey(), e.getValue().asInt());
            max = Math.max(max, e.getValue().asInt());
        }
        specialIds = new HashMap<>();
        for (JsonNode t : root.path("added_tokens")) {
            specialIds.put(t.path("content").asText(), t.path("id").asInt());
            max = Math.max(max, t.path("id").asInt());
        }
        pieces = new String[max + 1];
        vocab.forEach((k, v) -> pieces[v] = k);
        specialIds.forEach((k, v) -> pieces[v] = k);
        specials = new ArrayList<>(specialIds.keySet());
        specials.sort(Comparator.comparingInt(String::length).reversed());
        ranks = new HashMap<>();
        int rank = 0;
        for (JsonNode m : model.get("merges")) {
            String a;
            String b;
            if (m.isArray()) {
                a = m.get(0).asText();
                b = m.get(1).asText();
            } else {
                String s = m.asText();
                int sp = s.indexOf(' ', 1);
                if (sp < 0) {
                    throw InputException.at(file, "merge '" + s + "' is not two pieces separated by a space");
                }
                a = s.substring(0, sp);
                b = s.substring(sp + 1);
            }
            ranks.putIfAbsent(a + '\u0000' + b, rank++);
        }
        byteFallback = model.path("byte_fallback").asBoolean(false);
        ignoreMerges = model.path("ignore_merges").asBoolean(false);
        String text = root.toString();
        byteLevel = text.contains("\"ByteLevel\"");
        prependSpace = !byteLevel && (text.contains("\"Prepend\"") || text.contains("\"Metaspace\""));
        split = byteLevel ? compileSplit(file, findSplitPattern(root.path("pre_tokenizer"))) : null;
        String unk = model.path("unk_token").asText(null);
        unkId = unk == null ? -1 : vocab.getOrDefault(unk, -1);
        bosId = specialId(config, "bos_token", root, 0);
        eosId = specialId(config, "eos_token", root, 1);
    }

    public static HfTokenizer read(Path file) {
        ObjectMapper json = new ObjectMapper();
        JsonNode root;
        try {
            root = json.readTree(file.toFile());
        } catch (IOException e) {
            throw InputException.at(file, "is not valid JSON: " + e.getMessage().lines().findFirst().orElse(""));
        }
        if (root == null || !root.isObject()) {
            throw InputException.at(file, "is not a tokenizer.json object");
        }
        JsonNode config = null;
        Path cfg = file.resolveSibling("tokenizer_config.json");
        if (Files.isRegularFile(cfg)) {
            try {
                config = json.readTree(cfg.toFile());
            } catch (IOException e) {
                throw InputException.at(cfg, "is not valid JSON: " + e.getMessage().lines().findFirst().orElse(""));
            }
        }
        return new HfTokenizer(file, root, config);
    }

    /** BOS/EOS: tokenizer_config.json first, else the post-processor's template (BOS only). */
    private int specialId(JsonNode config, String key, JsonNode root, int templateIndex) {
        if (config != null && config.hasNonNull(key)) {
            JsonNode t = config.get(key);
            String content = t.isTextual() ? t.asText() : t.path("content").asText();
            Integer id = specialIds.getOrDefault(content, vocab.get(content));
            if (id != null) {
                return id;
            }
        }
        if (templateIndex == 0) {
            for (JsonNode st : root.path("post_processor").path("single")) {
                if (st.has("SpecialToken")) {
                    return specialIds.getOrDefault(st.get("SpecialToken").path("id").asText(), -1);
                }
            }
        }
        return -1;
    }

    /**
     * The Llama-3/Qwen2/GPT-2 split patterns use only constructs java.util.regex shares with
     * Oniguruma; UNICODE_CHARACTER_CLASS gives \\s, \\p{L} and (?i) their Unicode meaning as there.
     */
    private static Pattern compileSplit(Path file, String regex) {
        try {
            return Pattern.compile(regex == null ? "(?s).+" : regex, Pattern.UNICODE_CHARACTER_CLASS);
        } catch (java.util.regex.PatternSyntaxException e) {
            throw InputException.at(file, "pre-tokenizer pattern is not supported: " + e.getDescription());
        }
    }

    private static String findSplitPattern(JsonNode pre) {
        if (pre.path("type").asText().equals("Split")) {
            JsonNode p = pre.path("pattern");
            return p.has("Regex") ? p.get("Regex").asText() : Pattern.quote(p.path("String").asText());
        }
        for (JsonNode sub : pre.path("pretokenizers")) {
            String s = findSplitPattern(sub);
            if (s != null) {
                return s;
            }
        }
        return pre.path("type").asText().equals("ByteLevel") && pre.path("use_regex").asBoolean(true)
                ? GPT2_PATTERN : null;
    }

    @Override
    public int vocabSize() {
        return pieces.length;
    }

    @Override
    public int bosId() {
        return bosId;
    }

    @Override
    public int eosId() {
        return eosId;
    }

    @Override
    public int[] encode(String text, boolean addBos) {
        List<Integer> out = new ArrayList<>();
        if (addBos && bosId >= 0) {
            out.add(bosId);
        }
        int start = 0;
        boolean first = true;
        while (start < text.length()) {
            int at = text.length();
            String hit = null;
            for (String s : specials) {
                int i = text.indexOf(s, start);
                if (i >= 0 && i < at) {
                    at = i;
                    hit = s;
                }
            }
            if (at > start) {
                encodeText(text.substring(start, at), first, out);
                first = false;
            }
            if (hit != null) {
                out.add(specialIds.get(hit));
                start = at + hit.length();
            } else {
                start = at;
            }
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    private void encodeText(String text, boolean first, List<Integer> out) {
        if (!byteLevel) {
            String norm = (prependSpace && first ? " " : "") + text;
            word(norm.replace(' ', '▁'), out);
            return;
        }
        Matcher m = split.matcher(text);
        int last = 0;
        while (m.find()) {
            if (m.start() > last) {
                word(ByteLevel.encode(text.substring(last, m.start())), out);
            }
            if (m.end() > m.start()) {
                word(ByteLevel.encode(m.group()), out);
            }
            last = m.end();
        }
        if (last < text.length()) {
            word(ByteLevel.encode(text.substring(last)), out);
        }
    }

    private record Candidate(int rank, int left, int leftVersion, int rightVersion) {
    }

    /** BPE on one word: characters (or byte pieces) merged by rank, via a linked list + queue. */
    private void word(String w, List<Integer> out) {
        if (ignoreMerges && vocab.containsKey(w)) {
            out.add(vocab.get(w));
            return;
        }
        List<String> sym = new ArrayList<>();
        w.codePoints().forEach(cp -> sym.add(new String(Character.toChars(cp))));
        int n = sym.size();
        String[] s = sym.toArray(String[]::new);
        int[] next = new int[n];
        int[] prev = new int[n];
        int[] version = new int[n];
        for (int i = 0; i < n; i++) {
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
        }
        PriorityQueue<Candidate> q = new PriorityQueue<>((a, b) -> a.rank != b.rank
                ? Integer.compare(a.rank, b.rank) : Integer.compare(a.left, b.left));
        for (int i = 0; i + 1 < n; i++) {
            offer(q, s, version, i, i + 1);
        }
        boolean[] dead = new boolean[n];
        while (!q.isEmpty()) {
            Candidate c = q.poll();
            int l = c.left;
            int r = next[l];
            if (dead[l] || r < 0 || version[l] != c.leftVersion || version[r] != c.rightVersion) {
                continue;
            }
            s[l] = s[l] + s[r];
            version[l]++;
            dead[r] = true;
            next[l] = next[r];
            if (next[r] >= 0) {
                prev[next[r]] = l;
            }
            if (prev[l] >= 0) {
                offer(q, s, version, prev[l], l);
            }
            if (next[l] >= 0) {
                offer(q, s, version, l, next[l]);
            }
        }
        for (int i = n > 0 ? 0 : -1; i >= 0; i = next[i]) {
            Integer id = vocab.get(s[i]);
            if (id != null) {
                out.add(id);
            } else if (byteFallback) {
                for (byte b : s[i].getBytes(StandardCharsets.UTF_8)) {
                    Integer bid = vocab.get(String.format("<0x%02X>", b & 0xff));
                    out.add(bid != null ? bid : unkId);
                }
            } else if (unkId >= 0) {
                out.add(unkId);
            } else {
                throw InputException.at(file, "cannot encode '" + s[i] + "': not in the vocabulary and no unk_token");
            }
        }
    }

    private void offer(PriorityQueue<Candidate> q, String[] s, int[] version, int l, int r) {
        Integer rank = ranks.get(s[l] + '\u0000' + s[r]);
        if (rank != null) {
            q.add(new Candidate(rank, l, version[l], version[r]));
        }
    }

    @Override
    public byte[] pieceBytes(int prevToken, int token) {
        String p = pieces[token];
        if (p == null) {
            return new byte[0];
        }
        if (specialIds.containsKey(p)) {
            return p.getBytes(StandardCharsets.UTF_8);
        }
        if (byteLevel) {
            return ByteLevel.decode(p);
        }
        if (p.length() == 6 && p.startsWith("<0x") && p.endsWith(">")) {
            return new byte[] {(byte) Integer.parseInt(p.substring(3, 5), 16)};
        }
        String text = p.replace('▁', ' ');
        if (prevToken == bosId && prependSpace && text.startsWith(" ")) {
            text = text.substring(1);
        }
        return text.getBytes(StandardCharsets.UTF_8);
    }

    /** GPT-2's reversible map between bytes and printable code points. */
    static final class ByteLevel {
        private static final char[] TO_CHAR = new char[256];
        private static final Map<Character, Byte> TO_BYTE = new HashMap<>();

        static {
            int extra = 0;
            for (int b = 0; b < 256; b++) {
                boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
                TO_CHAR[b] = printable ? (char) b : (char) (256 + extra++);
                TO_BYTE.put(TO_CHAR[b], (byte) b);
            }
        }

        static String encode(String text) {
            StringBuilder sb = new StringBuilder();
            for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
                sb.append(TO_CHAR[b & 0xff]);
            }
            return sb.toString();
        }

        static byte[] decode(String piece) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            for (char c : piece.toCharArray()) {
                Byte b = TO_BYTE.get(c);
                if (b != null) {
                    out.write(b);
                } else {
                    out.writeBytes(String.valueOf(c).getBytes(StandardCharsets.UTF_8));
                }
            }
            return out.toByteArray();
        }
    }
}
