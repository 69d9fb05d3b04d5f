package io.vq4j.kernels.cuda;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A shared library opened through the FFM API, found by name (the dynamic loader's search) or
 * in the places CUDA libraries live: the CUDA toolkit, LD_LIBRARY_PATH, and the nvidia-* wheels
 * of a Python environment (where PyTorch keeps NVRTC and cuBLAS). Whatever version is found is
 * used; the newest first.
 */
final class NativeLibrary {
    private final SymbolLookup lookup;
    final String path;

    private NativeLibrary(SymbolLookup lookup, String path) {
        this.lookup = lookup;
        this.path = path;
    }

    /** A function of this library; throws when the symbol is absent. */
    MethodHandle function(String name, FunctionDescriptor descriptor) {
        MemorySegment symbol = lookup.find(name).orElseThrow(
                () -> new IllegalStateException(path + " has no symbol " + name));
        return Linker.nativeLinker().downcallHandle(symbol, descriptor);
    }

    /** A function declared in {@code calls}; throws when the symbol is absent. */
    MethodHandle function(Downcalls calls, String name) {
        return function(name, calls.descriptor(name));
    }

    boolean has(String name) {
        return lookup.find(name).isPresent();
    }

    /**
     * Opens the first library that loads: {@code override} (a path, from an environment
     * variable) if set, then each of {@code names} through the dynamic loader, then every file
     * {@code stem}.so[.version] under the search directories, newest version first.
     */
    static Optional<NativeLibrary> open(String override, String stem, List<String> names, List<String> why) {
        if (override != null && !override.isBlank()) {
            try {
                return Optional.of(new NativeLibrary(SymbolLookup.libraryLookup(Path.of(override), Arena.global()),
                        override));
            } catch (IllegalArgumentException e) {
                why.add(override + ": " + e.getMessage());
                return Optional.empty();
            }
        }
        for (String n : names) {
            try {
                return Optional.of(new NativeLibrary(SymbolLookup.libraryLookup(n, Arena.global()), n));
            } catch (IllegalArgumentException e) {
                // not on the loader's path; try the next name
            }
        }
        for (Path p : candidates(stem)) {
            try {
                return Optional.of(new NativeLibrary(SymbolLookup.libraryLookup(p, Arena.global()), p.toString()));
            } catch (IllegalArgumentException e) {
                why.add(p + ": " + e.getMessage());
            }
        }
        why.add(stem + ".so not found (looked on the loader's path, in CUDA_HOME, /usr/local/cuda*, LD_LIBRARY_PATH"
                + " and Python nvidia-* packages)");
        return Optional.empty();
    }

    private static final Pattern VERSION = Pattern.compile("\\.so((?:\\.\\d+)*)$");

    /** Files named stem.so or stem.so.N[.M...] in the search directories, newest version first. */
    static List<Path> candidates(String stem) {
        List<Path> found = new ArrayList<>();
        for (Path dir : searchDirectories()) {
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, stem + ".so*")) {
                for (Path p : ds) {
                    Matcher m = VERSION.matcher(p.getFileName().toString());
                    if (m.find() && p.getFileName().toString().equals(stem + ".so" + m.group(1))) {
                        found.add(p);
                    }
                }
            } catch (IOException | SecurityException e) {
                // an unreadable directory is not a candidate
            }
        }
        found.sort(Comparator.comparing(NativeLibrary::version, NativeLibrary::compareVersions).reversed());
        return found;
    }

    static int[] version(Path p) {
        Matcher m = VERSION.matcher(p.getFileName().toString());
        if (!m.find() || m.group(1).isEmpty()) {
            return new int[0];
        }
        String[] parts = m.group(1).substring(1).split("\\.");
        int[] v = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            v[i] = Integer.parseInt(parts[i]);
        }
        return v;
    }

    static int compareVersions(int[] a, int[] b) {
        for (int i = 0; i < Math.min(a.length, b.length); i++) {
            if (a[i] != b[i]) {
                return Integer.compare(a[i], b[i]);
            }
        }
        return Integer.compare(a.length, b.length);
    }

    static List<Path> searchDirectories() {
        Set<Path> dirs = new LinkedHashSet<>();
        for (String env : new String[]{"CUDA_HOME", "CUDA_PATH"}) {
            String v = System.getenv(env);
            if (v != null && !v.isBlank()) {
                dirs.add(Path.of(v, "lib64"));
                dirs.add(Path.of(v, "lib"));
            }
        }
        String ld = System.getenv("LD_LIBRARY_PATH");
        if (ld != null) {
            for (String s : ld.split(":")) {
                if (!s.isBlank()) {
                    dirs.add(Path.of(s));
                }
            }
        }
        dirs.add(Path.of("/usr/local/cuda/lib64"));
        dirs.add(Path.of("/usr/local/cuda/targets/x86_64-linux/lib"));
        dirs.addAll(glob(Path.of("/usr/local"), "cuda-*", "lib64"));
        dirs.add(Path.of("/usr/lib/x86_64-linux-gnu"));
        dirs.add(Path.of("/usr/lib64"));
        // Python environments: the nvidia-* wheels (nvidia/<package>/lib) and torch/lib
        List<Path> sitePackages = new ArrayList<>();
        for (Path root : new Path[]{Path.of("/usr/lib"), Path.of("/usr/local/lib"), Path.of("/opt/conda/lib"),
                Path.of(System.getProperty("user.home"), ".local", "lib")}) {
            for (Path py : glob(root, "python3*", null)) {
                sitePackages.add(py.resolve("site-packages"));
                sitePackages.add(py.resolve("dist-packages"));
            }
        }
        String venv = System.getenv("VIRTUAL_ENV");
        if (venv != null && !venv.isBlank()) {
            for (Path py : glob(Path.of(venv, "lib"), "python3*", null)) {
                sitePackages.add(py.resolve("site-packages"));
            }
        }
        for (Path sp : sitePackages) {
            dirs.addAll(glob(sp.resolve("nvidia"), "*", "lib"));
            dirs.add(sp.resolve("torch").resolve("lib"));
        }
        dirs.removeIf(p -> !Files.isDirectory(p));
        return List.copyOf(dirs);
    }

    /** root/pattern[/child] for each directory matching the glob pattern, in name order. */
    private static List<Path> glob(Path root, String pattern, String child) {
        List<Path> out = new ArrayList<>();
        if (!Files.isDirectory(root)) {
            return out;
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(root, pattern)) {
            for (Path p : ds) {
                if (Files.isDirectory(p)) {
                    out.add(child == null ? p : p.resolve(child));
                }
            }
        } catch (IOException | SecurityException e) {
            return out;
        }
        out.sort(Comparator.naturalOrder());
        return out;
    }
}
