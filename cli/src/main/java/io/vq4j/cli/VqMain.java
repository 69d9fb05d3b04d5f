package io.vq4j.cli;

import io.vq4j.core.InputException;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.util.Locale;
import java.util.ResourceBundle;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code vq} command line. Input errors: one line on stderr, exit code 2, no stack trace. So
 * is running out of memory (an OutOfMemoryError anywhere, on any thread): the line says which
 * memory ran out, the heap's size and what to do; whatever the command wrote so far is temp-named
 * until complete, and `vq quantize` resumes from its last finished block when run again.
 */
@Command(name = "vq", mixinStandardHelpOptions = true, version = "vq4j 0.1.0",
        description = "Vector quantization of LLM weights, and honest measurement of what it costs.",
        subcommands = {EvalCommand.class, GenerateCommand.class, ConvertCommand.class, InspectCommand.class,
                TokenizeCommand.class, SynthCommand.class, QuantizeCommand.class, DequantizeCommand.class, ExportCommand.class, SweepCommand.class, ExperimentCommand.class, DevicesCommand.class, BenchCommand.class})
public final class VqMain implements Runnable {
    @Override
    public void run() {
        throw new CommandLine.ParameterException(new CommandLine(this), "a command is required (see vq --help)");
    }

    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new VqMain());
        cl.setResourceBundle(ResourceBundle.getBundle(DeviceOption.class.getName())); // each command's --device text
        cl.setParameterExceptionHandler((ex, args) -> {
            PrintWriter err = ex.getCommandLine().getErr();
            err.println("vq: " + InputException.printable(ex.getMessage().lines().findFirst().orElse("invalid arguments"))
                    + " (see " + ex.getCommandLine().getCommandSpec().qualifiedName() + " --help)");
            return 2;
        });
        cl.setExecutionExceptionHandler((ex, command, parsed) -> {
            PrintWriter err = command.getErr();
            Exception input = ex instanceof UncheckedIOException u ? InputException.io(u.getCause())
                    : ex instanceof IOException io ? InputException.io(io) : ex;
            if (input instanceof InputException) {
                err.println("vq: " + InputException.printable(input.getMessage()));
                return 2;
            }
            OutOfMemoryError oom = outOfMemory(ex);
            if (oom != null) {
                err.println(outOfMemoryLine(oom));
                return OUT_OF_MEMORY;
            }
            err.println("vq: internal error: " + InputException.printable(String.valueOf(ex)));
            if (System.getenv("VQ_DEBUG") != null) {
                ex.printStackTrace(err);
            } else {
                err.println("vq: set VQ_DEBUG=1 for the stack trace");
            }
            return 1;
        });
        return cl;
    }

    /** The exit code of a run that ran out of memory: a resource the user sets, as for bad input. */
    public static final int OUT_OF_MEMORY = 2;

    /** The OutOfMemoryError that {@code t} is or was caused by, or null. */
    static OutOfMemoryError outOfMemory(Throwable t) {
        for (int depth = 0; t != null && depth < 32; t = t.getCause(), depth++) {
            if (t instanceof OutOfMemoryError e) {
                return e;
            }
        }
        return null;
    }

    /** The one line for an OutOfMemoryError: which memory, the heap's size, what to do. */
    static String outOfMemoryLine(OutOfMemoryError e) {
        long max = Runtime.getRuntime().maxMemory();
        String gib = max >= 1L << 30 ? String.format(Locale.ROOT, "%.1f GiB", max / (double) (1L << 30))
                : String.format(Locale.ROOT, "%.1f MiB", max / (double) (1L << 20));
        return "vq: out of memory (" + InputException.printable(String.valueOf(e.getMessage())) + ") with a heap of "
                + gib + " (-Xmx): run it again with a larger -Xmx (VQ_JAVA_OPTS) or less work (quantize: fewer"
                + " --calib-samples); nothing unfinished was left under its final name, and quantize resumes after its"
                + " last finished block";
    }

    public static void main(String[] args) {
        // an OutOfMemoryError on another thread (the pools rethrow theirs on the caller's): the same one line
        Thread.UncaughtExceptionHandler before = Thread.getDefaultUncaughtExceptionHandler();
        Thread.setDefaultUncaughtExceptionHandler((thread, ex) -> {
            OutOfMemoryError oom = outOfMemory(ex);
            if (oom != null) {
                System.err.println(outOfMemoryLine(oom));
                System.exit(OUT_OF_MEMORY);
            } else if (before != null) {
                before.uncaughtException(thread, ex);
            } else {
                thread.getThreadGroup().uncaughtException(thread, ex);
            }
        });
        int code;
        try {
            code = commandLine().execute(args);
        } catch (OutOfMemoryError e) { // picocli passes Errors through; what held the memory is unreachable now
            System.err.println(outOfMemoryLine(e));
            code = OUT_OF_MEMORY;
        }
        System.exit(code);
    }
}
