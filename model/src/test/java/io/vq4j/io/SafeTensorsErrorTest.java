package io.vq4j.io;

import static io.vq4j.testing.InputErrors.fails;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each kind of broken safetensors file gives one InputException line naming the file and the problem. */
class SafeTensorsErrorTest {
    @TempDir
    Path dir;

    /** A file whose length field says {@code headerLength}, followed by {@code header} and zeroed data. */
    private Path file(long headerLength, String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(headerLength).put(h);
        Path p = dir.resolve("model.safetensors");
        Files.write(p, b.array());
        return p;
    }

    private Path file(String header, int dataBytes) throws IOException {
        return file(header.getBytes(StandardCharsets.UTF_8).length, header, dataBytes);
    }

    /** The file holds one tensor "w" with the given fields (JSON, without braces) and 16 data bytes. */
    private Path tensor(String fields) throws IOException {
        return file("{\"w\":{" + fields + "}}", 16);
    }

    private void opening(Path p, String problem) {
        fails(p, problem, () -> SafeTensorsFile.open(p).close());
    }

    @Test
    void invalidUtf8InTheHeaderIsRefusedNotReplaced() throws IOException {
        // a tensor name with a lone continuation byte 0x80: once read as "w\uFFFD", a name nobody wrote
        byte[] h = "{\"w?\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}"
                .getBytes(StandardCharsets.UTF_8);
        h[3] = (byte) 0x80;
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + 16).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Path p = dir.resolve("model.safetensors");
        Files.write(p, b.array());
        opening(p, "header is not valid UTF-8 (byte 11 of the file)");
        // an overlong encoding of '"' (0xC0 0xA2) is malformed too
        h[3] = (byte) 0xC0;
        h[4] = (byte) 0xA2;
        Files.write(p, ByteBuffer.allocate(8 + h.length + 16).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).put(h)
                .array());
        opening(p, "header is not valid UTF-8");
    }

    @Test
    void missingFileIsReported() {
        Path p = dir.resolve("absent.safetensors");
        opening(p, "no such file");
    }

    @Test
    void fileShorterThanTheLengthFieldIsTruncated() throws IOException {
        Path p = dir.resolve("model.safetensors");
        Files.write(p, new byte[] {1, 2, 3});
        opening(p, "truncated: 3 bytes");
    }

    @Test
    void emptyFileIsTruncated() throws IOException {
        Path p = Files.createFile(dir.resolve("model.safetensors"));
        opening(p, "truncated: 0 bytes");
    }

    @Test
    void headerLengthBeyondTheFileIsTruncated() throws IOException {
        opening(file(1000, "{}", 0), "header length 1000 runs past the end of the file");
    }

    @Test
    void headerLengthBeyondTheSaneBoundIsRejected() throws IOException {
        opening(file(SafeTensorsFile.MAX_HEADER_BYTES + 1, "{}", 0), "is not sane");
    }

    @Test
    void negativeHeaderLengthIsRejected() throws IOException {
        opening(file(-8, "{}", 0), "is not sane");
    }

    @Test
    void headerThatIsNotJsonIsRejected() throws IOException {
        opening(file("{\"a\": [", 0), "header is not valid JSON");
    }

    @Test
    void headerWithTrailingGarbageIsRejected() throws IOException {
        opening(file("{} {}", 0), "header is not valid JSON");
    }

    @Test
    void headerThatIsNotAnObjectIsRejected() throws IOException {
        opening(file("[1, 2]  ", 0), "header is not a JSON object");
    }

    @Test
    void duplicateTensorNamesAreRejected() throws IOException {
        String t = "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}";
        opening(file("{\"w\":" + t + ",\"w\":" + t + "}", 1), "Duplicate field 'w'");
    }

    @Test
    void tensorEntryThatIsNotAnObjectIsRejected() throws IOException {
        opening(file("{\"w\":[1]}", 0), "tensor 'w' is not an object");
    }

    @Test
    void metadataThatIsNotAnObjectIsRejected() throws IOException {
        opening(file("{\"__metadata__\":[\"pt\"]}", 0), "__metadata__ is not an object");
    }

    @Test
    void metadataValueThatIsNotAStringIsRejected() throws IOException {
        opening(file("{\"__metadata__\":{\"format\":1}}", 0), "__metadata__.format is not a string");
    }

    @Test
    void missingDtypeIsRejected() throws IOException {
        opening(tensor("\"shape\":[4],\"data_offsets\":[0,16]"), "tensor 'w' has no dtype");
    }

    @Test
    void dtypeThatIsNotAStringIsRejected() throws IOException {
        opening(tensor("\"dtype\":4,\"shape\":[4],\"data_offsets\":[0,16]"), "tensor 'w' has no dtype");
    }

    @Test
    void unknownDtypeIsRejected() throws IOException {
        opening(tensor("\"dtype\":\"F8_E4M3\",\"shape\":[16],\"data_offsets\":[0,16]"),
                "tensor 'w' has unknown dtype 'F8_E4M3'");
    }

    @Test
    void missingShapeIsRejected() throws IOException {
        opening(tensor("\"dtype\":\"F32\",\"data_offsets\":[0,16]"), "tensor 'w' has no shape array");
    }

    @Test
    void shapeWithANonIntegerIsRejected() throws IOException {
        opening(tensor("\"dtype\":\"F32\",\"shape\":[\"4\"],\"data_offsets\":[0,16]"), "tensor 'w' has an invalid shape");
    }

    @Test
    void negativeShapeIsRejected() throws IOException {
        opening(tensor("\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]"), "tensor 'w' has an invalid shape [-4]");
    }

    @Test
    void shapeWhoseElementCountOverflowsIsRejected() throws IOException {
        opening(tensor("\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,16]"),
                "tensor 'w' has a shape too large");
    }

    @Test
    void shapeWhoseByteCountOverflowsIsRejected() throws IOException {
        opening(tensor("\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,16]"),
                "tensor 'w' has a shape too large");
    }

    @Test
    void missingDataOffsetsAreRejected() throws IOException {
        opening(tensor("\"dtype\":\"F32\",\"shape\":[4]"), "tensor 'w' has no [begin, end] data_offsets");
    }

    @Test
    void dataOffsetsBeyondALongAreRejected() throws IOException {
        opening(tensor("\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,18446744073709551632]"),
                "tensor 'w' has no [begin, end] data_offsets");
    }

    @Test
    void offsetsPastTheDataAreaAreRejected() throws IOException {
        opening(tensor("\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]"),
                "tensor 'w' has data_offsets [0, 32] outside the data area of 16 bytes");
    }

    @Test
    void negativeOffsetsAreRejected() throws IOException {
        opening(tensor("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]"), "outside the data area");
    }

    @Test
    void endBeforeBeginIsRejected() throws IOException {
        opening(tensor("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]"), "outside the data area");
    }

    @Test
    void overlappingTensorsAreRejected() throws IOException {
        opening(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12),
                "tensors 'a' and 'b' overlap");
    }

    @Test
    void overlapIsFoundAcrossAnEmptyTensorBetween() throws IOException {
        // 'a' covers 'c'; the empty 'e' sorts between them and must not hide the overlap
        opening(file("{\"a\":{\"dtype\":\"U8\",\"shape\":[12],\"data_offsets\":[0,12]},"
                + "\"e\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
                + "\"c\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[8,12]}}", 12),
                "tensors 'a' and 'c' overlap");
    }

    @Test
    void aHeaderLengthPointingIntoTheHeadersPaddingIsRejected() throws IOException {
        // the header padded with spaces to 64 bytes (as writers do for alignment), but the length
        // field says 60: the JSON still parses, and without the coverage check every tensor
        // would be read 4 bytes early
        String json = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
        String padded = json + " ".repeat(64 - json.length());
        opening(file(60, padded, 16), "file not fully covered: the tensors end at byte 16 of the data area but it"
                + " has 20 bytes");
    }

    @Test
    void trailingBytesAfterTheLastTensorAreRejected() throws IOException {
        opening(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 17),
                "file not fully covered: the tensors end at byte 16 of the data area but it has 17 bytes");
    }

    @Test
    void aGapBeforeTheFirstTensorIsRejected() throws IOException {
        opening(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[4,16]}}", 16),
                "file not fully covered: 4 bytes of the data area before tensor 'w' (offset 0) belong to no tensor");
    }

    @Test
    void aGapBetweenTensorsIsRejected() throws IOException {
        opening(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16),
                "file not fully covered: 4 bytes of the data area before tensor 'b' (offset 4) belong to no tensor");
    }

    @Test
    void tensorsCoveringTheDataExactlyOpenInAnyHeaderOrder() throws IOException {
        Path p = file("{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]},"
                + "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[12,12]},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12);
        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            assertEquals(List.of("b", "e", "a"), f.names());
        }
    }

    /** One 2x3 tensor "w" of {@code dtype} whose element 4 has the raw bits {@code bits}, the rest zero. */
    private Path withValue(String dtype, int elementBytes, long bits) throws IOException {
        String json = "{\"w\":{\"dtype\":\"" + dtype + "\",\"shape\":[2,3],\"data_offsets\":[0," + 6 * elementBytes
                + "]}}";
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + 6 * elementBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        int at = 8 + h.length + 4 * elementBytes;
        switch (elementBytes) {
            case 2 -> b.putShort(at, (short) bits);
            case 4 -> b.putInt(at, (int) bits);
            default -> b.putLong(at, bits);
        }
        Path p = dir.resolve(dtype + bits + ".safetensors");
        Files.write(p, b.array());
        return p;
    }

    @Test
    void nonFiniteValuesAreInputErrorsNamingTheTensorAndIndex() throws IOException {
        Object[][] cases = {
                {"F32", 4, (long) Float.floatToRawIntBits(Float.NaN), "NaN"},
                {"F32", 4, (long) Float.floatToRawIntBits(Float.NEGATIVE_INFINITY), "-Infinity"},
                {"F16", 2, 0x7C00L, "Infinity"},
                {"F16", 2, 0x7E00L, "NaN"},
                {"BF16", 2, 0x7FC0L, "NaN"},
                {"F64", 8, Double.doubleToRawLongBits(1e300), "Infinity"}, // finite in fp64, not in fp32
        };
        for (Object[] c : cases) {
            Path p = withValue((String) c[0], (int) c[1], (long) c[2]);
            try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
                fails(p, "tensor 'w' has a non-finite value (" + c[3] + ") at index 4 (row 1, column 1)",
                        () -> f.floats("w"));
            }
        }
        Path ok = withValue("F32", 4, Float.floatToRawIntBits(Float.MAX_VALUE));
        try (SafeTensorsFile f = SafeTensorsFile.open(ok)) {
            assertEquals(Float.MAX_VALUE, f.floats("w")[4]);
        }
    }

    @Test
    void byteRangeDisagreeingWithDtypeTimesShapeIsRejected() throws IOException {
        opening(tensor("\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,8]"),
                "tensor 'w' is BF16 [3] = 6 bytes but its data_offsets span 8");
    }

    @Test
    void askingForATensorTheFileLacksNamesIt() throws IOException {
        Path p = tensor("\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]");
        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            fails(p, "has no tensor 'v'", () -> f.floats("v"));
        }
    }

    @Test
    void readingAnIntegerTensorAsFloatsIsRejected() throws IOException {
        Path p = tensor("\"dtype\":\"I32\",\"shape\":[4],\"data_offsets\":[0,16]");
        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            fails(p, "tensor 'w' is I32, not a float dtype", () -> f.floats("w"));
        }
    }

    @Test
    void readingAFloatTensorAsIntegersIsRejected() throws IOException {
        Path p = tensor("\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]");
        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            fails(p, "tensor 'w' is F32, not an integer dtype", () -> f.longs("w"));
        }
    }

    @Test
    void tensorNamesWithLineBreaksStayOnOneLine() throws IOException {
        opening(file("{\"a\\nb\":{\"dtype\":\"X\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1),
                "tensor 'a\\nb' has unknown dtype");
    }
}
