package io.vq4j.quant.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.cpu.CpuBackend;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class SharedFactorsTest {
    private static final Backend CPU = new CpuBackend();

    /** The CPU backend, counting its factorisations (a proxy: every other call goes straight to the CPU's). */
    private static final class Counting {
        final AtomicInteger calls = new AtomicInteger();
        final Backend backend = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(),
                new Class<?>[] {Backend.class}, (proxy, m, args) -> {
                    if (m.getName().equals("inverseCholeskyUpper")) {
                        calls.incrementAndGet();
                    }
                    try {
                        return m.invoke(CPU, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    @Test
    void anEqualHessianIsFactoredOnceInsideAScopeAndGivesTheSameBits() {
        int n = 40;
        double[] h = LinalgTest.spd(n, 5);
        double[] fresh = Linalg.inverseCholeskyUpperDamped(CPU, h, n, "ref");
        Counting b = new Counting();
        try (SharedFactors f = SharedFactors.open()) {
            double[] u1 = Linalg.inverseCholeskyUpperDamped(b.backend, h, n, "q");
            double[] u2 = Linalg.inverseCholeskyUpperDamped(b.backend, h, n, "k");
            double[] u3 = Linalg.inverseCholeskyUpperDamped(b.backend, h.clone(), n, "v"); // equal contents, another array
            assertEquals(1, b.calls.get());
            assertEquals(2, f.hits());
            assertSame(u1, u2);
            assertSame(u1, u3);
            assertArrayEquals(fresh, u1); // bit for bit what an unshared factorisation gives
        }
    }

    @Test
    void aDifferentOrChangedHessianIsFactoredAgain() {
        int n = 24;
        double[] h = LinalgTest.spd(n, 6);
        Counting b = new Counting();
        try (SharedFactors f = SharedFactors.open()) {
            double[] u1 = Linalg.inverseCholeskyUpperDamped(b.backend, h, n, "a");
            double[] other = LinalgTest.spd(n, 7);
            double[] u2 = Linalg.inverseCholeskyUpperDamped(b.backend, other, n, "b");
            assertEquals(2, b.calls.get());
            assertArrayEquals(Linalg.inverseCholeskyUpperDamped(CPU, other, n, "ref"), u2);
            h[3 * n + 3] += 1e-9; // the caller changed its array after the first factorisation
            double[] u3 = Linalg.inverseCholeskyUpperDamped(b.backend, h, n, "a again");
            assertEquals(3, b.calls.get());
            assertNotSame(u1, u3);
            assertArrayEquals(Linalg.inverseCholeskyUpperDamped(CPU, h.clone(), n, "ref"), u3);
            assertEquals(0, f.hits());
        }
    }

    @Test
    void nothingIsKeptOutsideAScopeOrAfterItCloses() {
        int n = 16;
        double[] h = LinalgTest.spd(n, 8);
        Counting b = new Counting();
        Linalg.inverseCholeskyUpperDamped(b.backend, h, n, "a");
        Linalg.inverseCholeskyUpperDamped(b.backend, h, n, "a");
        assertEquals(2, b.calls.get());
        try (SharedFactors f = SharedFactors.open()) {
            Linalg.inverseCholeskyUpperDamped(b.backend, h, n, "a");
        }
        Linalg.inverseCholeskyUpperDamped(b.backend, h, n, "a");
        assertEquals(4, b.calls.get());
    }

    @Test
    void theDampedRetryIsSharedToo() {
        // a singular H (rank 1): the first attempt fails, damping makes it definite; the retry's U is shared
        int n = 8;
        double[] h = new double[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                h[i * n + j] = 1.0;
            }
        }
        double[] fresh = Linalg.inverseCholeskyUpperDamped(CPU, h, n, "ref");
        Counting b = new Counting();
        try (SharedFactors f = SharedFactors.open()) {
            double[] u1 = Linalg.inverseCholeskyUpperDamped(b.backend, h, n, "gate");
            int first = b.calls.get();
            double[] u2 = Linalg.inverseCholeskyUpperDamped(b.backend, h, n, "up");
            assertEquals(first, b.calls.get());
            assertSame(u1, u2);
            assertArrayEquals(fresh, u1);
        }
    }
}
