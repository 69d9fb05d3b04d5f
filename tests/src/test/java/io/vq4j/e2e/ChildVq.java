package io.vq4j.e2e;

import io.vq4j.cli.VqMain;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The CLI in a second JVM, on this test's class path, its output (stdout and stderr) in a log file. */
final class ChildVq {
    private ChildVq() {
    }

    /**
     * Starts {@code vq args} with the JVM options {@code jvm} (e.g. {@code -Dvq.threads=3}).
     * One GC thread; the JIT as in a user's run. (C1 only, as this once ran, cost ten times the time
     * of a run that spends it in the Vector API, which only C2 compiles to vector instructions:
     * gptvq on stories260K 50 s against 5 s.)
     */
    static Process start(List<String> jvm, List<String> args, Path log) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xss8m",
                "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path")));
        cmd.addAll(jvm);
        cmd.add(VqMain.class.getName());
        cmd.addAll(args);
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }
}
