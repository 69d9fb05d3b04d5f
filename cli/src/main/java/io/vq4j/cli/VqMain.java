package io.vq4j.cli;

import io.vq4j.core.InputException;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.util.ResourceBundle;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code vq} command line. Input errors: one line on stderr, exit code 2, no stack trace. */
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

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }
}
