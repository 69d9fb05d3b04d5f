package io.vq4j.eval.sweep;

import io.vq4j.core.InputException;
import io.vq4j.quant.Methods;
import io.vq4j.quant.QuantOptions;
import io.vq4j.quant.budget.Candidate;
import io.vq4j.quant.method.MethodOption;
import io.vq4j.quant.method.QuantSpec;

import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.MalformedInputException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;

/**
 * The configurations of a sweep, written compactly:
 * {@code rtn:bits=2,3,4;kmeans:dim=2,centroids=16,64}. Entries are separated by ';' (or are
 * the lines of a file, '#' starting a comment); each is a method, then optionally ':' and its
 * options separated by ','. An item {@code name=value} starts an option (names as in
 * {@code vq quantize}, with or without "--"); a following item without '=' is another value of
 * the same option, and the values of every option are crossed. A flag alone ({@code act-order})
 * means {@code act-order=true}; residual stages are joined by '+' ({@code residual-centroids=16+16}).
 * Every configuration is checked when parsed; errors name the entry and the option.
 */
public final class SweepSpec {
    private SweepSpec() {
    }

    /** The method name of a --target-bpw row ({@link #budget}). */
    public static final String TARGET_BPW = "target-bpw";

    /**
     * One configuration: its method and options (CLI names with "--", values as written); or a
     * --target-bpw row (method {@value #TARGET_BPW}, option --bpw; {@code targetBpw} and the
     * {@code candidates} each layer chooses from; {@code spec} is the first candidate's, which
     * gives the damping).
     */
    public record Config(String method, Map<String, String> options, QuantSpec spec, Double targetBpw,
                         List<Candidate> candidates) {
        public Config {
            options = Collections.unmodifiableMap(new LinkedHashMap<>(options));
            candidates = List.copyOf(candidates);
        }

        public Config(String method, Map<String, String> options, QuantSpec spec) {
            this(method, options, spec, null, List.of());
        }

        /** A budget row's --sensitivity: h-error or stacked. */
        public String sensitivity() {
            return options.getOrDefault("--sensitivity", "h-error");
        }

        /** A budget row: `vq quantize --target-bpw B --candidates ...` in the sweep. */
        public boolean isBudget() {
            return targetBpw != null;
        }

        /** "kmeans dim=2 centroids=16", the name used in tables and plots; "target-bpw 4.2" for a budget row. */
        public String name() {
            if (isBudget()) {
                return TARGET_BPW + " " + options.get("--bpw") + (sensitivity().equals("h-error") ? "" : " "
                        + sensitivity());
            }
            StringBuilder b = new StringBuilder(method);
            for (Map.Entry<String, String> e : options.entrySet()) {
                b.append(' ').append(e.getKey().substring(2)).append('=').append(e.getValue());
            }
            return b.toString();
        }

        /** A directory name: "kmeans-dim2-centroids16". */
        public String slug() {
            if (isBudget()) { // the candidates in the name: a row resumed only with the same list
                CRC32 crc = new CRC32();
                crc.update(String.join(";", candidates.stream().map(Candidate::name).toList())
                        .getBytes(StandardCharsets.UTF_8));
                String proxy = sensitivity().equals("h-error") ? "" : "-" + sensitivity();
                return (TARGET_BPW + options.get("--bpw") + proxy + "-candidates" + String.format("%08x", crc.getValue()))
                        .replaceAll("[^A-Za-z0-9.+_-]", "_");
            }
            StringBuilder b = new StringBuilder(method);
            for (Map.Entry<String, String> e : options.entrySet()) {
                b.append('-').append(e.getKey().substring(2)).append(e.getValue());
            }
            return b.toString().replaceAll("[^A-Za-z0-9.+_-]", "_");
        }

        /** The same options as `vq quantize` arguments. */
        public List<String> arguments() {
            if (isBudget()) {
                return List.of("--target-bpw", options.get("--bpw"), "--sensitivity", sensitivity(), "--candidates",
                        String.join(";", candidates.stream().map(Candidate::name).toList()));
            }
            List<String> a = new ArrayList<>(List.of("--method", method));
            for (Map.Entry<String, String> e : options.entrySet()) {
                MethodOption.Type type = QuantOptions.option(e.getKey()).type();
                if (type == MethodOption.Type.FLAG) {
                    if (e.getValue().equals("true")) {
                        a.add(e.getKey());
                    }
                } else if (type == MethodOption.Type.INT_LIST) {
                    for (String k : e.getValue().split("\\+")) {
                        if (!k.equals("none") && !k.equals("0")) {
                            a.add(e.getKey());
                            a.add(k);
                        }
                    }
                } else {
                    a.add(e.getKey());
                    a.add(e.getValue());
                }
            }
            return a;
        }
    }

    /**
     * The budget row of a sweep: every layer chooses among the candidates (the sweep's uniform
     * configurations, or --candidates) under B true bits per weight.
     */
    public static Config budget(double bpw, List<Config> candidates, String sensitivity) {
        if (!sensitivity.equals("h-error") && !sensitivity.equals("stacked")) {
            throw new InputException("--sensitivity: must be h-error or stacked, got '" + sensitivity + "'");
        }
        if (!(bpw > 0) || Double.isInfinite(bpw)) {
            throw new InputException("--target-bpw: must be a positive number of bits per weight, got " + bpw);
        }
        List<Candidate> cands = new ArrayList<>();
        for (Config c : candidates) {
            if (c.isBudget()) {
                throw new IllegalArgumentException("a candidate cannot be a budget row");
            }
            cands.add(new Candidate(c.name(), c.spec()));
        }
        String b = BigDecimal.valueOf(bpw).stripTrailingZeros().toPlainString();
        Map<String, String> opts = new LinkedHashMap<>();
        opts.put("--bpw", b);
        if (!sensitivity.equals("h-error")) {
            opts.put("--sensitivity", sensitivity);
        }
        return new Config(TARGET_BPW, opts, candidates.getFirst().spec(), bpw, cands);
    }

    /** Reads a file of configurations, one entry per line. */
    public static List<Config> read(Path file) {
        return read(file, "--configs");
    }

    /** Parses the compact form. */
    public static List<Config> parse(String spec) {
        return parse(spec, "--configs");
    }

    /** As {@link #read(Path)}, errors naming {@code option} (e.g. --candidates). */
    public static List<Config> read(Path file, String option) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (MalformedInputException e) {
            throw InputException.at(file, "is not valid UTF-8");
        } catch (IOException e) {
            throw InputException.at(file, "cannot read: " + e.getMessage());
        }
        List<String> entries = new ArrayList<>();
        for (String line : lines) {
            int hash = line.indexOf('#');
            String l = (hash >= 0 ? line.substring(0, hash) : line).strip();
            if (!l.isEmpty()) {
                entries.add(l);
            }
        }
        return parseEntries(entries, option + ": " + file + ": ");
    }

    /** As {@link #parse(String)}, errors naming {@code option} (e.g. --candidates). */
    public static List<Config> parse(String spec, String option) {
        List<String> entries = new ArrayList<>();
        for (String e : spec.split(";", -1)) {
            if (!e.isBlank()) {
                entries.add(e.strip());
            }
        }
        return parseEntries(entries, option + ": ");
    }

    private static List<Config> parseEntries(List<String> entries, String prefix) {
        if (entries.isEmpty()) {
            throw new InputException(prefix + "no configurations (expected e.g. \"rtn:bits=2,3,4;kmeans:dim=2,centroids=16\")");
        }
        List<Config> out = new ArrayList<>();
        Map<String, String> seen = new HashMap<>();
        for (String entry : entries) {
            for (Config c : expand(entry, prefix)) {
                String before = seen.putIfAbsent(c.slug(), entry);
                if (before != null) {
                    throw new InputException(prefix + "configuration '" + c.name() + "' appears twice (in '" + before
                            + "' and '" + entry + "')");
                }
                out.add(c);
            }
        }
        return List.copyOf(out);
    }

    private static List<Config> expand(String entry, String prefix) {
        int colon = entry.indexOf(':');
        String method = (colon < 0 ? entry : entry.substring(0, colon)).strip();
        String at = prefix + "'" + entry + "': ";
        if (Methods.find(method) == null) {
            throw new InputException(at + Methods.unknown(method));
        }
        List<String> allowed = QuantOptions.allowed(method);
        LinkedHashMap<String, List<String>> values = new LinkedHashMap<>();
        String current = null;
        if (colon >= 0) {
            String rest = entry.substring(colon + 1);
            if (rest.isBlank()) {
                throw new InputException(at + "nothing after ':'");
            }
            for (String raw : rest.split(",", -1)) {
                String item = raw.strip();
                if (item.isEmpty()) {
                    throw new InputException(at + "an empty item (two commas, or a comma at the end)");
                }
                int eq = item.indexOf('=');
                String name;
                String value;
                if (eq >= 0) {
                    name = optionName(item.substring(0, eq).strip());
                    value = item.substring(eq + 1).strip();
                } else if (isFlag(optionName(item))) {
                    name = optionName(item);
                    value = "true";
                } else if (current != null) {
                    name = current;
                    value = item;
                } else {
                    throw new InputException(at + "'" + item + "' is not name=value");
                }
                if (QuantOptions.option(name) == null) {
                    throw new InputException(at + "unknown option '" + name.substring(2) + "' (options of " + method
                            + ": " + String.join(", ", allowed.stream().map(a -> a.substring(2)).toList()) + ")");
                }
                if (!allowed.contains(name)) {
                    throw new InputException(at + "'" + name.substring(2) + "' is not an option of " + method
                            + " (its options: " + String.join(", ", allowed.stream().map(a -> a.substring(2)).toList())
                            + ")");
                }
                if (eq >= 0 && values.containsKey(name)) {
                    throw new InputException(at + "option '" + name.substring(2)
                            + "' is given twice (list its values after one name: " + name.substring(2) + "=a,b)");
                }
                if (value.isEmpty()) {
                    throw new InputException(at + "option '" + name.substring(2) + "' has an empty value");
                }
                Object parsed;
                try {
                    parsed = QuantOptions.parse(name, value);
                } catch (IllegalArgumentException e) {
                    throw new InputException(at + name.substring(2) + ": " + e.getMessage());
                }
                values.computeIfAbsent(name, k -> new ArrayList<>()).add(canonical(parsed));
                current = name;
            }
        }
        List<Config> out = new ArrayList<>();
        cross(method, new ArrayList<>(values.entrySet()), 0, new LinkedHashMap<>(), out, at);
        return out;
    }

    private static void cross(String method, List<Map.Entry<String, List<String>>> options, int i,
                              LinkedHashMap<String, String> chosen, List<Config> out, String at) {
        if (i == options.size()) {
            Map<String, Object> given = new LinkedHashMap<>();
            for (Map.Entry<String, String> e : chosen.entrySet()) {
                given.put(e.getKey(), QuantOptions.parse(e.getKey(), e.getValue()));
            }
            QuantSpec spec;
            try {
                spec = QuantOptions.build(method, given);
            } catch (InputException e) {
                throw new InputException(at + e.getMessage());
            }
            out.add(new Config(method, chosen, spec));
            return;
        }
        Map.Entry<String, List<String>> o = options.get(i);
        for (String v : o.getValue()) {
            chosen.put(o.getKey(), v);
            cross(method, options, i + 1, chosen, out, at);
            chosen.remove(o.getKey());
        }
    }

    private static boolean isFlag(String name) {
        MethodOption<?> o = QuantOptions.option(name);
        return o != null && o.type() == MethodOption.Type.FLAG;
    }

    private static String optionName(String s) {
        return s.startsWith("--") ? s : "--" + s;
    }

    /** The value as it will be named: numbers as parsed (016 → 16), lists joined by '+'. */
    private static String canonical(Object parsed) {
        if (parsed instanceof List<?> l) {
            return l.isEmpty() ? "none" : String.join("+", l.stream().map(String::valueOf).toList());
        }
        return String.valueOf(parsed);
    }
}
