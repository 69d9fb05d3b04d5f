package io.vq4j.kernels.cuda;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.AddressLayout;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Every FFM downcall vq4j declares ({@link Downcalls}: the driver, NVRTC, cuBLAS, cuSOLVER) against
 * the real CUDA headers and libraries, without a GPU: the C++ compiler reads cuda.h, nvrtc.h,
 * cublas_v2.h (cublas_api.h) and cusolverDn.h, resolving every typedef and macro, and prints each
 * function's return and parameter types as kind and width (integer or enum, floating, pointer,
 * struct); a name the header #defines (cuMemAlloc, which is cuMemAlloc_v2) is refused; each must be
 * what the descriptor passes (JAVA_INT: a 4-byte integer, ADDRESS: a pointer,
 * {@link Downcalls#DEVICE_POINTER}: a pointer or a 64-bit integer, …), with the same count. Then
 * each symbol must be exported by the real library (dlopen and lookup), and the driver's handles
 * must all bind and cuInit run. The headers and libraries are Debian's (scripts/lib/cuda-headers.sh,
 * in VQ_CUDA_DEV_DIR or ~/.cache/vq4j/cuda-dev); without them the tests skip, unless
 * VQ_REQUIRE_CUDA_HEADERS=1 (CI).
 */
class CudaBindingsTest {
    static final List<Downcalls> ALL = List.of(Cuda.Driver.DOWNCALLS, Nvrtc.DOWNCALLS, Cublas.DOWNCALLS,
            Cusolver.DOWNCALLS);

    static Path devDir() {
        String env = System.getenv("VQ_CUDA_DEV_DIR");
        if (env != null && !env.isBlank()) {
            return Path.of(env);
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path cache = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return cache.resolve("vq4j").resolve("cuda-dev");
    }

    /** Skips, saying why, unless VQ_REQUIRE_CUDA_HEADERS=1: then fails. */
    static void need(boolean ok, String why) {
        if (ok) {
            return;
        }
        if ("1".equals(System.getenv("VQ_REQUIRE_CUDA_HEADERS"))) {
            fail("VQ_REQUIRE_CUDA_HEADERS=1 but " + why);
        }
        System.err.println("CudaBindingsTest: skipped: " + why);
        assumeTrue(false, why);
    }

    /** What the descriptor passes in one position, as the C++ side prints it: i4, p8, f8, … */
    static String expected(MemoryLayout l) {
        if (l instanceof AddressLayout) {
            return "p" + l.byteSize();
        }
        if (l.name().isPresent() && l.name().equals(Downcalls.DEVICE_POINTER.name())) {
            return "p8|i8";
        }
        ValueLayout v = (ValueLayout) l;
        boolean floating = v.carrier() == float.class || v.carrier() == double.class;
        return (floating ? "f" : "i") + v.byteSize();
    }

    static List<String> expected(FunctionDescriptor d) {
        List<String> out = new ArrayList<>();
        out.add(d.returnLayout().map(CudaBindingsTest::expected).orElse("v0"));
        d.argumentLayouts().forEach(l -> out.add(expected(l)));
        return out;
    }

    /** Mismatches of one function: an empty list when the C prototype is what the descriptor says. */
    static List<String> compare(String name, FunctionDescriptor d, List<String> c) {
        List<String> want = expected(d);
        List<String> bad = new ArrayList<>();
        if (c.size() != want.size()) {
            bad.add(name + ": " + (c.size() - 1) + " parameters in C, " + (want.size() - 1) + " in the descriptor");
            return bad;
        }
        for (int i = 0; i < want.size(); i++) {
            if (!List.of(want.get(i).split("\\|")).contains(c.get(i))) {
                bad.add(name + ": " + (i == 0 ? "the return" : "parameter " + i) + " is " + c.get(i) + " in C, "
                        + want.get(i) + " in the descriptor");
            }
        }
        return bad;
    }

    /** Each declared function's types as the C++ compiler sees them in the headers: name → [ret, args…]. */
    static Map<String, List<String>> prototypes(Path include, Path dir) throws IOException, InterruptedException {
        StringBuilder src = new StringBuilder("""
                #include <cuda.h>
                #include <nvrtc.h>
                #include <cublas_v2.h>
                #include <cusolverDn.h>
                #include <cstdio>
                #include <type_traits>
                // i: integer or enum, f: floating, p: pointer, s: anything else (a struct by value); then the bytes
                template <class T> void kind() {
                  using U = std::remove_cv_t<T>;
                  if constexpr (std::is_void_v<U>) std::printf(" v0");
                  else if constexpr (std::is_pointer_v<U>) std::printf(" p%zu", sizeof(U));
                  else if constexpr (std::is_floating_point_v<U>) std::printf(" f%zu", sizeof(U));
                  else if constexpr (std::is_integral_v<U> || std::is_enum_v<U>) std::printf(" i%zu", sizeof(U));
                  else std::printf(" s%zu", sizeof(U));
                }
                template <class F> struct Describe;
                template <class R, class... A> struct Describe<R(A...)> {
                  static void print(const char* name) { std::printf("%s", name); kind<R>(); (kind<A>(), ...); std::printf("\\n"); }
                };
                #define D(f) Describe<decltype(f)>::print(#f);
                int main() {
                """);
        for (Downcalls calls : ALL) {
            for (String name : calls.all().keySet()) {
                // a name the header #defines stands for another symbol (cuMemAlloc is cuMemAlloc_v2;
                // the library still exports the old one): the binding must name the real one
                src.append("#ifdef ").append(name).append("\n  std::printf(\"").append(name)
                        .append(" macro\\n\");\n#else\n  D(").append(name).append(")\n#endif\n");
            }
        }
        src.append("}\n");
        Path cpp = dir.resolve("bindings.cpp");
        Files.writeString(cpp, src);
        Path exe = dir.resolve("bindings");
        String compile = run(dir, List.of(compiler(), "-std=c++17", "-I", include.toString(), cpp.toString(), "-o",
                exe.toString()));
        assertTrue(Files.isExecutable(exe), "the headers do not declare what the bindings call:\n"
                + compile.lines().filter(s -> s.contains("error")).limit(20).reduce("", (a, b) -> a + b + "\n"));
        Map<String, List<String>> out = new LinkedHashMap<>();
        for (String line : run(dir, List.of(exe.toString())).split("\n")) {
            String[] t = line.trim().split(" ");
            if (t.length >= 2) {
                out.put(t[0], List.of(t).subList(1, t.length));
            }
        }
        return out;
    }

    static String compiler() {
        for (String c : new String[]{"c++", "g++", "clang++"}) {
            for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
                if (Files.isExecutable(Path.of(dir, c))) {
                    return Path.of(dir, c).toString();
                }
            }
        }
        return null;
    }

    static String run(Path dir, List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), String.join(" ", cmd) + " did not finish");
        return new String(out, StandardCharsets.UTF_8);
    }

    @Test
    void everyDowncallMatchesItsCPrototypeInTheHeaders(@TempDir Path tmp) throws Exception {
        Path include = devDir().resolve("include");
        need(Files.isRegularFile(include.resolve("cuda.h")) && Files.isRegularFile(include.resolve("cusolverDn.h")),
                "no CUDA headers in " + include + " (scripts/lib/cuda-headers.sh fetches them)");
        need(compiler() != null, "no C++ compiler (c++, g++ or clang++) to read the headers");
        Map<String, List<String>> c = prototypes(include, tmp);
        List<String> bad = new ArrayList<>();
        int checked = 0;
        for (Downcalls calls : ALL) {
            for (Map.Entry<String, FunctionDescriptor> e : calls.all().entrySet()) {
                List<String> proto = c.get(e.getKey());
                if (proto == null) {
                    bad.add(e.getKey() + ": not printed by the header check");
                    continue;
                }
                if (proto.equals(List.of("macro"))) {
                    bad.add(e.getKey() + ": a macro in the header, not the name of the function it stands for");
                    continue;
                }
                bad.addAll(compare(e.getKey(), e.getValue(), proto));
                checked++;
            }
        }
        assertTrue(bad.isEmpty(), bad.size() + " bindings differ from " + include + ":\n" + String.join("\n", bad));
        assertTrue(checked >= 40, "only " + checked + " downcalls checked");
        System.err.println("CudaBindingsTest: " + checked + " downcalls match their prototypes in " + include);
    }

    static FunctionDescriptor withArgument(FunctionDescriptor d, int i, MemoryLayout l) {
        List<MemoryLayout> args = new ArrayList<>(d.argumentLayouts());
        args.set(i, l);
        return FunctionDescriptor.of(d.returnLayout().orElseThrow(), args.toArray(MemoryLayout[]::new));
    }

    @Test
    void theCheckFailsOnAWrongDescriptor() {
        // cuMemsetD8_v2(CUdeviceptr, unsigned char, size_t) as the header prints it
        List<String> c = List.of("i4", "i8", "i1", "i8");
        FunctionDescriptor right = Cuda.Driver.DOWNCALLS.descriptor("cuMemsetD8_v2");
        assertEquals(List.of(), compare("cuMemsetD8_v2", right, c));
        FunctionDescriptor wider = withArgument(right, 1, ValueLayout.JAVA_INT);
        assertEquals(1, compare("cuMemsetD8_v2", wider, c).size(), "a 4-byte value where C has 1 byte");
        FunctionDescriptor pointer = withArgument(right, 0, ValueLayout.ADDRESS);
        assertEquals(1, compare("cuMemsetD8_v2", pointer, c).size(), "a pointer where C has CUdeviceptr");
        assertEquals(1, compare("cuMemsetD8_v2", right.appendArgumentLayouts(ValueLayout.JAVA_INT), c).size());
        // a device pointer is a pointer or a 64-bit integer, nothing else
        assertEquals(List.of(), compare("f", FunctionDescriptor.ofVoid(Downcalls.DEVICE_POINTER), List.of("v0", "p8")));
        assertEquals(1, compare("f", FunctionDescriptor.ofVoid(Downcalls.DEVICE_POINTER), List.of("v0", "i4")).size());
        assertEquals(1, compare("f", FunctionDescriptor.ofVoid(ValueLayout.JAVA_LONG), List.of("v0", "p8")).size());
    }

    /** The real library file for a stem: VQ_CUDA_DEV_DIR/lib first (Debian's packages), else the machine's. */
    static Path library(String stem) throws IOException {
        Path lib = devDir().resolve("lib");
        if (Files.isDirectory(lib)) {
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(lib, stem + ".so.*")) {
                for (Path p : ds) {
                    return p;
                }
            }
        }
        List<Path> found = NativeLibrary.candidates(stem);
        return found.isEmpty() ? null : found.getFirst();
    }

    @Test
    void everyDowncallIsExportedByTheRealLibrary() throws Exception {
        List<String> missing = new ArrayList<>();
        int found = 0;
        try (Arena arena = Arena.ofShared()) {
            for (Downcalls calls : ALL) {
                Path p = library(calls.library);
                need(p != null, "no " + calls.library + ".so in " + devDir().resolve("lib")
                        + " or on this machine (scripts/lib/cuda-headers.sh fetches it)");
                SymbolLookup lookup = SymbolLookup.libraryLookup(p, arena);
                for (Map.Entry<String, FunctionDescriptor> e : calls.all().entrySet()) {
                    var symbol = lookup.find(e.getKey());
                    if (symbol.isPresent()) {
                        Linker.nativeLinker().downcallHandle(symbol.get(), e.getValue()); // the linker takes it
                        found++;
                    } else {
                        missing.add(e.getKey() + " (" + p + ")");
                    }
                }
            }
        }
        assertTrue(missing.isEmpty(), "not exported: " + missing);
        System.err.println("CudaBindingsTest: " + found + " symbols found in the real libraries");
    }

    @Test
    void theDriverBindsEveryHandleAndCuInitRuns() throws Throwable {
        Path p = library("libcuda");
        need(p != null, "no libcuda.so in " + devDir().resolve("lib") + " or on this machine");
        var lib = NativeLibrary.open(p.toString(), "libcuda", List.of(), new ArrayList<>());
        assertTrue(lib.isPresent(), "dlopen " + p);
        try {
            Cuda.Driver d = new Cuda.Driver(lib.get());
            assertTrue(d.version > 0, "cuDriverGetVersion " + d.version); // a GPU and its driver are here
        } catch (Cuda.CudaException e) {
            // no GPU: cuInit ran and answered with a status, after every handle was bound
            assertTrue(e.getMessage().startsWith("cuInit failed"), e.getMessage());
            System.err.println("CudaBindingsTest: " + p + ": " + e.getMessage());
        }
    }

    /**
     * cublasCreate_v2 and cusolverDnCreate, bound by the project's descriptors, run in the real
     * libraries: CUBLAS_STATUS_SUCCESS / CUSOLVER_STATUS_SUCCESS (0) with a GPU, NOT_INITIALIZED (1)
     * without one; either way the call returned through the binding.
     */
    @Test
    void cublasAndCusolverCreateRunInTheRealLibraries() throws Throwable {
        for (Downcalls calls : List.of(Cublas.DOWNCALLS, Cusolver.DOWNCALLS)) {
            Path p = library(calls.library);
            need(p != null, "no " + calls.library + ".so in " + devDir().resolve("lib") + " or on this machine");
            var lib = NativeLibrary.open(p.toString(), calls.library, List.of(), new ArrayList<>());
            assertTrue(lib.isPresent(), "dlopen " + p);
            String create = calls == Cublas.DOWNCALLS ? "cublasCreate_v2" : "cusolverDnCreate";
            MethodHandle h = lib.get().function(calls, create);
            try (Arena a = Arena.ofConfined()) {
                int status = (int) h.invokeExact(a.allocate(ValueLayout.ADDRESS));
                assertTrue(status == 0 || status == 1, create + " returned " + status);
                System.err.println("CudaBindingsTest: " + create + " in " + p + ": status " + status);
            }
        }
    }
}
