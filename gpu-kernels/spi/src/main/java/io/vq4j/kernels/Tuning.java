package io.vq4j.kernels;

import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import java.util.stream.Stream;

/**
 * Work-group and tile sizes of the GPU kernels, from the device profiles in tornado-config/profiles
 * (built into the jar). A profile is a properties file: {@code match} (a case-insensitive regular
 * expression searched in "vendor | name | type | platform"; absent in the default profile),
 * {@code tile} (centroids per local-memory tile of the assignment), {@code assign.group},
 * {@code accumulate.group} and {@code packed.group} (work-group sizes). The first profile that
 * matches wins: those in the directory named by the system property {@code vq.tuning.dir} or the
 * environment variable {@code VQ_TUNING_DIR} (file-name order) come before the built-in ones,
 * listed in {@code profiles.list}. Every value is checked against the device's limits.
 */
public record Tuning(String profile, int tile, int assignGroup, int accumulateGroup, int packedGroup) {
    private static final String BUILT_IN = "/io/vq4j/tuning/";

    /** The sizes for a device; {@code description} is "vendor | name | type | platform". */
    public static Tuning forDevice(String description, long maxWorkGroupSize, long localMemoryBytes) {
        for (Candidate c : candidates()) {
            String m = c.props.getProperty("match");
            boolean matches;
            try {
                matches = m == null || Pattern.compile(m, Pattern.CASE_INSENSITIVE).matcher(description).find();
            } catch (PatternSyntaxException e) {
                throw new IllegalStateException("tuning profile " + c.name + ": match is not a regular expression: "
                        + e.getDescription());
            }
            if (matches) {
                Tuning t = new Tuning(c.name, positive(c, "tile"), positive(c, "assign.group"),
                        positive(c, "accumulate.group"), positive(c, "packed.group"));
                t.check(maxWorkGroupSize, localMemoryBytes);
                return t;
            }
        }
        throw new IllegalStateException("no tuning profile matches " + description + " (default.properties is missing)");
    }

    /** The profile a device gets, as `vq devices` shows it, or why it has none. */
    public static String describe(String description, long maxWorkGroupSize, long localMemoryBytes) {
        try {
            Tuning t = forDevice(description, maxWorkGroupSize, localMemoryBytes);
            return String.format(Locale.ROOT, "profile %s: tile %d, groups %d/%d/%d", t.profile(), t.tile(),
                    t.assignGroup(), t.accumulateGroup(), t.packedGroup());
        } catch (IllegalStateException e) {
            return "tuning: " + e.getMessage();
        }
    }

    /** Refuses sizes the device cannot run, naming the profile. */
    void check(long maxWorkGroupSize, long localMemoryBytes) {
        for (int g : new int[]{assignGroup, accumulateGroup, packedGroup}) {
            if (g > maxWorkGroupSize) {
                throw new IllegalStateException("tuning profile " + profile + ": work-group size " + g
                        + " exceeds the device's maximum " + maxWorkGroupSize);
            }
        }
        long local = (long) tile * 16 * Float.BYTES; // assign_nearest: TILE centroids of up to 16 floats
        if (localMemoryBytes > 0 && local > localMemoryBytes) {
            throw new IllegalStateException("tuning profile " + profile + ": tile " + tile + " needs " + local
                    + " bytes of local memory; the device has " + localMemoryBytes);
        }
    }

    private record Candidate(String name, Properties props) {
    }

    private static int positive(Candidate c, String key) {
        String v = c.props.getProperty(key);
        if (v == null) {
            throw new IllegalStateException("tuning profile " + c.name + ": " + key + " is missing");
        }
        try {
            int n = Integer.parseInt(v.trim());
            if (n < 1 || n > 65536) {
                throw new NumberFormatException();
            }
            return n;
        } catch (NumberFormatException e) {
            throw new IllegalStateException("tuning profile " + c.name + ": " + key + " = '" + v
                    + "' is not a whole number in 1..65536");
        }
    }

    private static List<Candidate> candidates() {
        List<Candidate> out = new ArrayList<>();
        String dir = System.getProperty("vq.tuning.dir", System.getenv("VQ_TUNING_DIR"));
        if (dir != null && !dir.isBlank()) {
            Path d = Path.of(dir);
            try (Stream<Path> s = Files.list(d)) {
                for (Path p : s.filter(f -> f.toString().endsWith(".properties")).sorted().toList()) {
                    try (Reader r = Files.newBufferedReader(p, StandardCharsets.UTF_8)) {
                        Properties props = new Properties();
                        props.load(r);
                        out.add(new Candidate(p.toString(), props));
                    }
                }
            } catch (IOException | IllegalArgumentException e) {
                throw new IllegalStateException("tuning profiles in " + d + ": " + e.getMessage());
            }
        }
        for (String name : builtInNames()) {
            try (InputStream in = Tuning.class.getResourceAsStream(BUILT_IN + name)) {
                if (in == null) {
                    throw new IllegalStateException("tuning profile " + name + " is listed but missing from the jar");
                }
                Properties props = new Properties();
                props.load(new InputStreamReader(in, StandardCharsets.UTF_8));
                out.add(new Candidate(name, props));
            } catch (IOException e) {
                throw new IllegalStateException("tuning profile " + name + ": " + e.getMessage());
            }
        }
        return out;
    }

    private static List<String> builtInNames() {
        try (InputStream in = Tuning.class.getResourceAsStream(BUILT_IN + "profiles.list")) {
            if (in == null) {
                throw new IllegalStateException("tuning profiles (io/vq4j/tuning/profiles.list) are missing from the jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().map(String::trim)
                    .filter(l -> !l.isEmpty() && !l.startsWith("#")).toList();
        } catch (IOException e) {
            throw new IllegalStateException("tuning profiles: " + e.getMessage());
        }
    }
}
