package io.vq4j.cli;

import io.vq4j.kernels.BackendProvider;
import io.vq4j.kernels.select.Backends;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.concurrent.Callable;

@Command(name = "devices", mixinStandardHelpOptions = true,
        description = "List the compute devices and the backend that would use each (--device names).")
final class DevicesCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        for (BackendProvider.Listing l : Backends.list()) {
            out.printf("%-12s %-7s %s%n", l.device(), l.backend(), l.description());
        }
        out.flush();
        return 0;
    }
}
