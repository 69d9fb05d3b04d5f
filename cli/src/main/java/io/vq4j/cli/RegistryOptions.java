package io.vq4j.cli;

import io.vq4j.quant.Methods;
import io.vq4j.quant.QuantOptions;
import io.vq4j.quant.method.MethodOption;
import picocli.CommandLine.IModelTransformer;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

import java.util.ArrayList;
import java.util.List;

/**
 * The method options of `vq quantize`, declared from the registry when picocli builds the
 * command: one picocli option per {@link QuantOptions#all} entry (its value type, label and
 * help), and the method list in the command's and --method's descriptions. A method added to
 * the registry brings its options to the CLI without a line here.
 */
final class RegistryOptions implements IModelTransformer {
    @Override
    public CommandSpec transform(CommandSpec spec) {
        List<String> names = Methods.names();
        spec.usageMessage().description("Quantize a model's linear layers (" + String.join(", ", names)
                + ") into a packed directory.");
        OptionSpec method = spec.findOption("--method");
        replaceInPlace(spec, method, method.toBuilder().description(Methods.listed(m -> true)).build());
        for (MethodOption<?> o : QuantOptions.all()) {
            spec.addOption(option(o));
        }
        return spec;
    }

    private static OptionSpec option(MethodOption<?> o) {
        OptionSpec.Builder b = OptionSpec.builder(o.name()).description(QuantOptions.help(o));
        if (o.label() != null) {
            b.paramLabel(o.label());
        }
        return switch (o.type()) {
            case INT -> b.type(Integer.class).build();
            case DOUBLE -> b.type(Double.class).build();
            case FLAG -> b.type(Boolean.class).build();
            case TEXT -> b.type(String.class).build();
            case INT_LIST -> b.type(List.class).auxiliaryTypes(Integer.class).build();
        };
    }

    /**
     * Replaces an option keeping its place among the others: picocli reports missing required
     * options in the order they were declared.
     */
    private static void replaceInPlace(CommandSpec spec, OptionSpec old, OptionSpec replacement) {
        List<OptionSpec> all = new ArrayList<>(spec.options());
        List<OptionSpec> after = new ArrayList<>(all.subList(all.indexOf(old) + 1, all.size()));
        after.forEach(spec::remove);
        spec.remove(old);
        spec.addOption(replacement);
        after.forEach(spec::addOption);
    }
}
