package io.vq4j.quant.method;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * The options one method takes, written once beside its options record: each option with the
 * method's default and the record component that holds it, and how the record is made from
 * the values. The CLI and the sweep offer exactly these options for the method; a spec is
 * serialised from {@link #values}.
 *
 * @param <O> the method's options record
 */
public final class OptionTable<O extends MethodOptions> {
    /**
     * One option of the method.
     *
     * @param option       its definition
     * @param defaultValue the method's default (the option's own unless the method says otherwise)
     * @param value        reads it back from the record; null for an option that only sets others
     *                     (vptq's --config)
     */
    public record Entry<O>(MethodOption<?> option, Object defaultValue, Function<O, ?> value) {
    }

    /** The values the record is made from: what was given, each option's default otherwise. */
    public interface Values {
        <T> T get(MethodOption<T> option);
    }

    private final List<Entry<O>> entries;
    private final Function<Values, O> make;

    private OptionTable(List<Entry<O>> entries, Function<Values, O> make) {
        this.entries = List.copyOf(entries);
        this.make = make;
    }

    public static <O extends MethodOptions> Builder<O> builder() {
        return new Builder<>();
    }

    /** The options, in the order the method lists them. */
    public List<MethodOption<?>> options() {
        return entries.stream().<MethodOption<?>>map(Entry::option).toList();
    }

    public boolean takes(String option) {
        return entries.stream().anyMatch(e -> e.option().name().equals(option));
    }

    /**
     * The record for the given options (option name → value of the option's type; null, absent
     * or a false flag = not given), the method's defaults for the rest. Names the table does
     * not hold are the caller's to refuse first.
     */
    public O make(Map<String, ?> given) {
        Map<String, Object> resolved = new LinkedHashMap<>();
        for (Entry<O> e : entries) {
            Object v = given.get(e.option().name());
            resolved.put(e.option().name(), v == null || Boolean.FALSE.equals(v) ? e.defaultValue()
                    : e.option().cast(v));
        }
        return make.apply(new Values() {
            @Override
            public <T> T get(MethodOption<T> option) {
                if (!resolved.containsKey(option.name())) {
                    throw new IllegalArgumentException(option.name() + " is not in the table");
                }
                Object v = resolved.get(option.name());
                return v == null ? null : option.cast(v);
            }
        });
    }

    /** Every option the record holds (option name → value), in table order: what the spec records. */
    public Map<String, Object> values(O options) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (Entry<O> e : entries) {
            if (e.value() != null) {
                out.put(e.option().name(), e.value().apply(options));
            }
        }
        return Collections.unmodifiableMap(out);
    }

    /** Builds a table entry by entry, in the order the method lists its options. */
    public static final class Builder<O extends MethodOptions> {
        private final List<Entry<O>> entries = new ArrayList<>();

        private Builder() {
        }

        /** An option with its own default. */
        public <T> Builder<O> add(MethodOption<T> option, Function<O, T> value) {
            return add(option, option.defaultValue(), value);
        }

        /** An option with this method's default. */
        public <T> Builder<O> add(MethodOption<T> option, T defaultValue, Function<O, T> value) {
            if (entries.stream().anyMatch(e -> e.option().name().equals(option.name()))) {
                throw new IllegalArgumentException(option.name() + " is listed twice");
            }
            entries.add(new Entry<>(option, defaultValue, value));
            return this;
        }

        /** An option the record does not keep: it sets others when the record is made (vptq's --config). */
        public <T> Builder<O> addSetter(MethodOption<T> option) {
            return add(option, option.defaultValue(), null);
        }

        public OptionTable<O> build(Function<Values, O> make) {
            return new OptionTable<>(entries, make);
        }
    }
}
