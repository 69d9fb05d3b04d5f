package io.vq4j.io;

import io.vq4j.core.InputException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/**
 * A minimal ONNX model reader: ModelProto → GraphProto → its nodes (op type, inputs, outputs,
 * attributes) and initializers, decoded straight from the protobuf wire format (field numbers
 * from onnx.proto). Enough to find a transformer's weights and how the graph uses them; it
 * does not run anything. Tensor data is decoded on request, FLOAT and INT64 only, from
 * raw_data or the typed repeated fields; external data is refused.
 *
 * <p>The input is a {@code .onnx} file, or a jar/zip holding exactly one {@code *.onnx} entry
 * (read in memory, never extracted). Wire errors name the file and the byte offset.
 */
public final class OnnxFile {
    public static final int FLOAT = 1;
    public static final int INT64 = 7;
    /** Protobuf caps a message at 2 GiB; larger models keep their weights as external data. */
    private static final int MAX_BYTES = Integer.MAX_VALUE - 8;
    private static final String[] TYPE_NAMES = {"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32",
        "INT64", "STRING", "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16",
        "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "UINT4", "INT4", "FLOAT4E2M1"};

    /** An initializer or an attribute's tensor; its data stays in the file's bytes until asked for. */
    public record Tensor(String name, int dataType, long[] dims, int start, int end) {
        /** The element type's ONNX name (FLOAT, INT64, …). */
        public String typeName() {
            return dataType >= 0 && dataType < TYPE_NAMES.length ? TYPE_NAMES[dataType] : "type " + dataType;
        }
    }

    /** A node attribute; only the field its {@code type} names is meaningful (ONNX AttributeType numbers). */
    public record Attribute(String name, int type, float f, long i, String s, Tensor t, float[] floats, long[] ints) {
        public static final int FLOAT = 1;
        public static final int INT = 2;
        public static final int STRING = 3;
        public static final int TENSOR = 4;
        public static final int FLOATS = 6;
        public static final int INTS = 7;
    }

    /** One graph node; an absent optional input is an empty string, as in ONNX. */
    public record Node(String name, String opType, String domain, List<String> inputs, List<String> outputs,
                       Map<String, Attribute> attributes) {
    }

    private final String source;
    private final byte[] bytes;
    private final long irVersion;
    private final String producer;
    private final List<Node> nodes;
    private final Map<String, Tensor> initializers;
    private final List<String> inputs;
    private final List<String> outputs;

    private OnnxFile(String source, byte[] bytes, long irVersion, String producer, List<Node> nodes,
                     Map<String, Tensor> initializers, List<String> inputs, List<String> outputs) {
        this.source = source;
        this.bytes = bytes;
        this.irVersion = irVersion;
        this.producer = producer;
        this.nodes = nodes;
        this.initializers = initializers;
        this.inputs = inputs;
        this.outputs = outputs;
    }

    /** Reads a {@code .onnx} file, or the one {@code *.onnx} entry of a jar/zip. */
    public static OnnxFile read(Path path) {
        if (!Files.isRegularFile(path)) {
            throw InputException.at(path, Files.exists(path) ? "not a regular file" : "no such file");
        }
        try {
            if (isZip(path)) {
                return readZip(path);
            }
            long size = Files.size(path);
            if (size > MAX_BYTES) {
                throw InputException.at(path, size + " bytes: larger than protobuf's 2 GiB limit (external data is not supported)");
            }
            return parse(path.toString(), Files.readAllBytes(path));
        } catch (NoSuchFileException e) {
            throw InputException.at(path, "no such file");
        } catch (IOException e) {
            throw InputException.at(path, "cannot read: " + e.getMessage());
        }
    }

    private static boolean isZip(Path path) throws IOException {
        try (InputStream in = Files.newInputStream(path)) {
            byte[] magic = in.readNBytes(4);
            return magic.length == 4 && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4;
        }
    }

    private static OnnxFile readZip(Path path) throws IOException {
        try (ZipFile zip = new ZipFile(path.toFile())) {
            List<? extends ZipEntry> models = zip.stream().filter(e -> !e.isDirectory() && e.getName().endsWith(".onnx")).toList();
            if (models.size() != 1) {
                throw InputException.at(path, "a zip/jar must hold exactly one *.onnx entry; it holds " + models.size()
                        + (models.isEmpty() ? "" : ": " + String.join(", ", models.stream().map(ZipEntry::getName).toList())));
            }
            ZipEntry entry = models.getFirst();
            String where = path + "!/" + entry.getName();
            if (entry.getSize() > MAX_BYTES) {
                throw InputException.at(where, entry.getSize() + " bytes: larger than protobuf's 2 GiB limit");
            }
            try (InputStream in = zip.getInputStream(entry)) {
                return parse(where, in.readAllBytes());
            } catch (ZipException e) {
                throw InputException.at(where, "corrupt zip entry: " + e.getMessage());
            }
        } catch (ZipException e) {
            throw InputException.at(path, "not a readable zip/jar: " + e.getMessage());
        }
    }

    /** Parses a whole ModelProto; {@code source} names it in messages. */
    static OnnxFile parse(String source, byte[] bytes) {
        ProtoWire m = new ProtoWire(source, bytes, 0, bytes.length);
        long irVersion = 0;
        String producer = "";
        ProtoWire.Span graph = null;
        while (m.more()) {
            int field = m.next();
            switch (field) {
                case 1 -> {
                    m.expect(ProtoWire.VARINT, "ModelProto.ir_version");
                    irVersion = m.varint();
                }
                case 2 -> {
                    m.expect(ProtoWire.LEN, "ModelProto.producer_name");
                    producer = m.string();
                }
                case 7 -> {
                    m.expect(ProtoWire.LEN, "ModelProto.graph");
                    graph = m.span();
                }
                default -> m.skip();
            }
        }
        if (graph == null) {
            throw InputException.at(source, "not an ONNX model: no graph (ModelProto field 7) in " + bytes.length + " bytes");
        }
        List<Node> nodes = new ArrayList<>();
        Map<String, Tensor> inits = new LinkedHashMap<>();
        List<String> inputs = new ArrayList<>();
        List<String> outputs = new ArrayList<>();
        ProtoWire g = m.sub(graph);
        while (g.more()) {
            int field = g.next();
            switch (field) {
                case 1 -> {
                    g.expect(ProtoWire.LEN, "GraphProto.node");
                    nodes.add(node(g.sub(g.span())));
                }
                case 5 -> {
                    g.expect(ProtoWire.LEN, "GraphProto.initializer");
                    ProtoWire.Span s = g.span();
                    Tensor t = tensor(g.sub(s), s);
                    if (inits.putIfAbsent(t.name(), t) != null) {
                        throw InputException.at(source, "initializer '" + t.name() + "' appears twice");
                    }
                }
                case 11, 12 -> {
                    g.expect(ProtoWire.LEN, "GraphProto.input/output");
                    (field == 11 ? inputs : outputs).add(valueName(g.sub(g.span())));
                }
                case 15 -> throw InputException.at(source, "the graph has sparse initializers, which are not supported");
                default -> g.skip();
            }
        }
        return new OnnxFile(source, bytes, irVersion, producer, Collections.unmodifiableList(nodes),
                Collections.unmodifiableMap(inits), List.copyOf(inputs), List.copyOf(outputs));
    }

    private static Node node(ProtoWire w) {
        List<String> in = new ArrayList<>();
        List<String> out = new ArrayList<>();
        Map<String, Attribute> attrs = new LinkedHashMap<>();
        String name = "";
        String op = "";
        String domain = "";
        while (w.more()) {
            int field = w.next();
            switch (field) {
                case 1, 2, 3, 4, 7 -> {
                    w.expect(ProtoWire.LEN, "NodeProto string field " + field);
                    String s = w.string();
                    switch (field) {
                        case 1 -> in.add(s);
                        case 2 -> out.add(s);
                        case 3 -> name = s;
                        case 4 -> op = s;
                        default -> domain = s;
                    }
                }
                case 5 -> {
                    w.expect(ProtoWire.LEN, "NodeProto.attribute");
                    Attribute a = attribute(w.sub(w.span()));
                    attrs.put(a.name(), a);
                }
                default -> w.skip();
            }
        }
        return new Node(name, op, domain, List.copyOf(in), List.copyOf(out), Collections.unmodifiableMap(attrs));
    }

    private static Attribute attribute(ProtoWire w) {
        String name = "";
        int type = 0;
        float f = 0;
        long i = 0;
        String s = null;
        Tensor t = null;
        OnnxData.Floats floats = new OnnxData.Floats();
        OnnxData.Longs ints = new OnnxData.Longs();
        while (w.more()) {
            int field = w.next();
            switch (field) {
                case 1 -> {
                    w.expect(ProtoWire.LEN, "AttributeProto.name");
                    name = w.string();
                }
                case 2 -> {
                    w.expect(ProtoWire.FIXED32, "AttributeProto.f");
                    f = Float.intBitsToFloat(w.fixed32());
                }
                case 3 -> {
                    w.expect(ProtoWire.VARINT, "AttributeProto.i");
                    i = w.varint();
                }
                case 4 -> {
                    w.expect(ProtoWire.LEN, "AttributeProto.s");
                    s = w.string();
                }
                case 5 -> {
                    w.expect(ProtoWire.LEN, "AttributeProto.t");
                    ProtoWire.Span span = w.span();
                    t = tensor(w.sub(span), span);
                }
                case 7 -> floats.read(w);
                case 8 -> ints.read(w, "AttributeProto.ints");
                case 20 -> {
                    w.expect(ProtoWire.VARINT, "AttributeProto.type");
                    type = w.varint32("attribute type");
                }
                default -> w.skip();
            }
        }
        return new Attribute(name, type, f, i, s, t, floats.toArray(), ints.toArray());
    }

    /** The metadata of a TensorProto; data fields are only located later, by {@link #floats}/{@link #longs}. */
    private static Tensor tensor(ProtoWire w, ProtoWire.Span whole) {
        OnnxData.Longs dims = new OnnxData.Longs();
        String name = "";
        int type = 0;
        while (w.more()) {
            int field = w.next();
            switch (field) {
                case 1 -> dims.read(w, "TensorProto.dims");
                case 2 -> {
                    w.expect(ProtoWire.VARINT, "TensorProto.data_type");
                    type = w.varint32("data type");
                }
                case 8 -> {
                    w.expect(ProtoWire.LEN, "TensorProto.name");
                    name = w.string();
                }
                default -> w.skip();
            }
        }
        return new Tensor(name, type, dims.toArray(), whole.start(), whole.end());
    }

    private static String valueName(ProtoWire w) {
        String name = "";
        while (w.more()) {
            if (w.next() == 1) {
                w.expect(ProtoWire.LEN, "ValueInfoProto.name");
                name = w.string();
            } else {
                w.skip();
            }
        }
        return name;
    }

    /** What the file is called in messages: the path, or {@code jar!/entry}. */
    public String source() {
        return source;
    }

    public long irVersion() {
        return irVersion;
    }

    public String producer() {
        return producer;
    }

    public List<Node> nodes() {
        return nodes;
    }

    /** Initializers by name, in file order. */
    public Map<String, Tensor> initializers() {
        return initializers;
    }

    public List<String> graphInputs() {
        return inputs;
    }

    public List<String> graphOutputs() {
        return outputs;
    }

    /** The named initializer, or an InputException saying it is missing. */
    public Tensor initializer(String name) {
        Tensor t = initializers.get(name);
        if (t == null) {
            throw InputException.at(source, "no initializer '" + name + "'");
        }
        return t;
    }

    /** A FLOAT tensor's values, row-major as stored. */
    public float[] floats(Tensor t) {
        OnnxData.Located d = OnnxData.locate(this, t, FLOAT, 4);
        float[] out = new float[d.count()];
        if (d.raw() != null) {
            for (int k = 0, p = d.raw().start(); k < out.length; k++, p += 4) {
                out[k] = Float.intBitsToFloat(le32(p));
            }
            return out;
        }
        OnnxData.Floats values = new OnnxData.Floats();
        ProtoWire w = wire(t);
        while (w.more()) {
            if (w.next() == 4) {
                values.read(w);
            } else {
                w.skip();
            }
        }
        return d.checkCount(values.toArray());
    }

    /** An INT64 tensor's values, row-major as stored. */
    public long[] longs(Tensor t) {
        OnnxData.Located d = OnnxData.locate(this, t, INT64, 8);
        long[] out = new long[d.count()];
        if (d.raw() != null) {
            for (int k = 0, p = d.raw().start(); k < out.length; k++, p += 8) {
                out[k] = le32(p) & 0xFFFF_FFFFL | (long) le32(p + 4) << 32;
            }
            return out;
        }
        OnnxData.Longs values = new OnnxData.Longs();
        ProtoWire w = wire(t);
        while (w.more()) {
            if (w.next() == 7) {
                values.read(w, "TensorProto.int64_data");
            } else {
                w.skip();
            }
        }
        return d.checkCount(values.toArray());
    }

    private int le32(int p) {
        return (bytes[p] & 0xFF) | (bytes[p + 1] & 0xFF) << 8 | (bytes[p + 2] & 0xFF) << 16 | (bytes[p + 3] & 0xFF) << 24;
    }

    ProtoWire wire(Tensor t) {
        return new ProtoWire(source, bytes, t.start(), t.end());
    }
}
