package io.vq4j.quant.method;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * One option of `vq quantize` as data: its CLI name, value type, parameter label, default and
 * help text. The CLI declares its options from these, the sweep parses its values with
 * {@link #parse}, and a method's {@link OptionTable} says which of them it takes. An option
 * that several methods take is defined once ({@link SharedOptions}); one that a single method
 * takes is defined in that method's package.
 *
 * @param name         the CLI name, with its leading "--"
 * @param type         the value type
 * @param label        the parameter label in `--help` (null for flags)
 * @param defaultValue the value when not given (a method's table may give its own)
 * @param help         the `--help` description; {@value #METHODS}, {@value #SCALAR} and {@value #VECTOR}
 *                     stand for the methods that take it (all, the scalar, the vector ones)
 * @param <T>          the Java type of a value: Integer, Double, Boolean, String or List&lt;Integer&gt;
 */
public record MethodOption<T>(String name, Type type, String label, T defaultValue, String help) {
    /** In a help text: the methods that take the option, joined by '/'. */
    public static final String METHODS = "{methods}";
    /** In a help text: the scalar methods that take the option. */
    public static final String SCALAR = "{scalar}";
    /** In a help text: the vector methods that take the option. */
    public static final String VECTOR = "{vector}";

    /** The value type of an option. */
    public enum Type {
        INT, DOUBLE, FLAG, TEXT, INT_LIST
    }

    public MethodOption {
        if (!name.startsWith("--")) {
            throw new IllegalArgumentException("option name without '--': " + name);
        }
        if (defaultValue != null) {
            checkType(name, type, defaultValue);
        }
    }

    public static MethodOption<Integer> integer(String name, String label, int defaultValue, String help) {
        return new MethodOption<>(name, Type.INT, label, defaultValue, help);
    }

    public static MethodOption<Double> real(String name, String label, double defaultValue, String help) {
        return new MethodOption<>(name, Type.DOUBLE, label, defaultValue, help);
    }

    /** A flag: false unless given. */
    public static MethodOption<Boolean> flag(String name, String help) {
        return new MethodOption<>(name, Type.FLAG, null, false, help);
    }

    /** A text option; a null default means "not given" to the method that reads it. */
    public static MethodOption<String> text(String name, String label, String defaultValue, String help) {
        return new MethodOption<>(name, Type.TEXT, label, defaultValue, help);
    }

    /** A list of integers (the CLI: the option repeated; the sweep: values joined by '+'); empty by default. */
    public static MethodOption<List<Integer>> integers(String name, String label, String help) {
        return new MethodOption<>(name, Type.INT_LIST, label, List.of(), help);
    }

    /** The name without its leading "--", as the sweep's notation writes it. */
    public String bareName() {
        return name.substring(2);
    }

    /**
     * A given value as this option's type.
     *
     * @throws IllegalArgumentException when the value is not of the option's type (a caller's bug)
     */
    @SuppressWarnings("unchecked")
    public T cast(Object value) {
        checkType(name, type, value);
        return type == Type.INT_LIST ? (T) List.copyOf((List<?>) value) : (T) value;
    }

    private static void checkType(String name, Type type, Object value) {
        boolean ok = switch (type) {
            case INT -> value instanceof Integer;
            case DOUBLE -> value instanceof Double;
            case FLAG -> value instanceof Boolean;
            case TEXT -> value instanceof String;
            case INT_LIST -> value instanceof List<?> l && l.stream().allMatch(Integer.class::isInstance);
        };
        if (!ok) {
            throw new IllegalArgumentException(name + ": a " + type + " option, given " + value + " ("
                    + (value == null ? "null" : value.getClass().getSimpleName()) + ")");
        }
    }

    /**
     * Parses a value from text: INT and DOUBLE as numbers (DOUBLE finite), FLAG as
     * true/yes/on or false/no/off, TEXT as itself (not empty), INT_LIST as integers joined by
     * '+' ("none" or "0" for the empty list).
     *
     * @throws IllegalArgumentException with a message naming what was expected
     */
    @SuppressWarnings("unchecked")
    public T parse(String text) {
        String v = text.strip();
        try {
            return (T) switch (type) {
                case INT -> Integer.parseInt(v);
                case DOUBLE -> {
                    double d = Double.parseDouble(v);
                    if (!Double.isFinite(d)) {
                        throw new NumberFormatException();
                    }
                    yield d;
                }
                case FLAG -> switch (v.toLowerCase(Locale.ROOT)) {
                    case "true", "yes", "on" -> Boolean.TRUE;
                    case "false", "no", "off" -> Boolean.FALSE;
                    default -> throw new IllegalArgumentException("'" + v + "' is not true or false");
                };
                case TEXT -> {
                    if (v.isEmpty()) {
                        throw new IllegalArgumentException("empty value");
                    }
                    yield v;
                }
                case INT_LIST -> {
                    List<Integer> out = new ArrayList<>();
                    if (!v.equals("none") && !v.equals("0")) {
                        for (String p : v.split("\\+", -1)) {
                            out.add(Integer.parseInt(p.strip()));
                        }
                    }
                    yield List.copyOf(out);
                }
            };
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + v + "' is not " + switch (type) {
                case INT -> "an integer";
                case DOUBLE -> "a finite number";
                default -> "a list of integers joined by '+' (or none)";
            });
        }
    }
}
