package io.vq4j.kernels.opencl;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.linalg.LinalgParityTest;
import org.junit.jupiter.api.Nested;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * accumulateGram and inverseCholeskyUpper on the first OpenCL device (PoCL in CI) against the
 * CPU's blocked code, bit for bit ({@link LinalgParityTest}: the Gram's row chunks, every n up to
 * 300 and 517, dead columns, re-damping, not positive definite, NaN, device bytes counted), with
 * the product kernel the device gets by default (on PoCL dproduct.cl's packed one, on a GPU
 * la_product's tiles) and, nested, with la_product's tiles forced. Without an OpenCL runtime they skip, unless
 * VQ_REQUIRE_OPENCL=1.
 */
class OpenClLinalgTest extends LinalgParityTest {
    @Override
    protected Backend open() {
        OpenClBackend b = OpenClTestDevice.openWithFp64();
        assertEquals(b.hostCpu() ? "packed" : "tiled", b.linalgProduct(), "auto's choice on " + b.name());
        return b;
    }

    /** The same checks on la_product's tiles. */
    @Nested
    class Tiled extends LinalgParityTest {
        @Override
        protected Backend open() {
            return with("tiled");
        }
    }

    private static Backend with(String kernel) {
        String old = System.getProperty(OpenClLinalg.PRODUCT_PROPERTY);
        System.setProperty(OpenClLinalg.PRODUCT_PROPERTY, kernel);
        try {
            OpenClBackend b = OpenClTestDevice.openWithFp64();
            assertEquals(kernel, b.linalgProduct());
            return b;
        } finally {
            if (old == null) {
                System.clearProperty(OpenClLinalg.PRODUCT_PROPERTY);
            } else {
                System.setProperty(OpenClLinalg.PRODUCT_PROPERTY, old);
            }
        }
    }
}
