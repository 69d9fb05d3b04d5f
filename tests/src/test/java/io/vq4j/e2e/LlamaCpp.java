package io.vq4j.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * llama.cpp itself, as npm's node-llama-cpp (pinned by scripts/lib/llamacpp.sh) runs it through
 * scripts/lib/llamacpp-eval.mjs. Where the package or node is missing, the tests that need it
 * skip with the reason, unless VQ_REQUIRE_LLAMACPP=1 (CI), where that is a failure.
 */
final class LlamaCpp {
    static final String VERSION = "3.21.1";
    private static final ObjectMapper JSON = new ObjectMapper();

    private LlamaCpp() {
    }

    static Path packageDir() {
        String env = System.getenv("VQ_LLAMACPP_DIR");
        String cache = System.getenv("XDG_CACHE_HOME");
        Path base = cache != null ? Path.of(cache) : Path.of(System.getProperty("user.home"), ".cache");
        return env != null ? Path.of(env) : base.resolve("vq4j").resolve("node-llama-cpp");
    }

    /** The node script, found from the module directory surefire runs in (or the repository root). */
    static Path script() {
        Path here = Path.of("").toAbsolutePath();
        for (Path p = here; p != null; p = p.getParent()) {
            Path s = p.resolve("scripts/lib/llamacpp-eval.mjs");
            if (Files.isRegularFile(s)) {
                return s;
            }
        }
        throw new IllegalStateException("scripts/lib/llamacpp-eval.mjs not found above " + here);
    }

    /** Why llama.cpp cannot run here, or null when it can. */
    static String unavailableReason() {
        Path pkg = packageDir().resolve("node_modules/node-llama-cpp/package.json");
        if (!Files.isRegularFile(pkg)) {
            return "node-llama-cpp is not installed in " + packageDir() + " (scripts/lib/llamacpp.sh installs it)";
        }
        try {
            String v = JSON.readTree(pkg.toFile()).path("version").asText();
            if (!v.equals(VERSION)) {
                return "node-llama-cpp in " + packageDir() + " is " + v + ", not " + VERSION;
            }
            Process p = new ProcessBuilder("node", "--version").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
                return "node does not run";
            }
        } catch (IOException e) {
            return "node is not on the PATH (" + e.getMessage() + ")";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted";
        }
        return null;
    }

    /** Skips the calling test class (or fails it under VQ_REQUIRE_LLAMACPP=1) when llama.cpp is missing. */
    static void require(String who) {
        String reason = unavailableReason();
        if (reason != null) {
            if ("1".equals(System.getenv("VQ_REQUIRE_LLAMACPP"))) {
                fail("VQ_REQUIRE_LLAMACPP=1 but " + reason);
            }
            System.err.println(who + ": every test skipped: " + reason);
            assumeTrue(false, reason);
        }
    }

    /** Runs the script on {@code request} (written to {@code dir}) and returns its JSON answer. */
    static JsonNode run(JsonNode request, Path dir, int timeoutSeconds) throws IOException, InterruptedException {
        Path req = dir.resolve("llamacpp-request.json");
        Path out = dir.resolve("llamacpp-answer.json");
        Path err = dir.resolve("llamacpp-stderr.txt");
        JSON.writeValue(req.toFile(), request);
        ProcessBuilder pb = new ProcessBuilder("node", script().toString(), req.toString())
                .redirectOutput(out.toFile()).redirectError(err.toFile());
        pb.environment().put("VQ_LLAMACPP_DIR", packageDir().toString());
        Process p = pb.start();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("llama.cpp did not finish within " + timeoutSeconds + " s: " + Files.readString(err));
        }
        String stderr = Files.readString(err, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), "llamacpp-eval.mjs failed: " + stderr);
        JsonNode answer = JSON.readTree(out.toFile());
        assertTrue(answer.has("models"), "no answer: " + stderr);
        return answer;
    }
}
