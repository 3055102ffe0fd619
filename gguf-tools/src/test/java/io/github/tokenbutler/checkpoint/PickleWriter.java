package io.github.tokenbutler.checkpoint;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Pickle protocol 2 written opcode by opcode, as torch.save writes it (pickletools' names), for tests that need a
 * checkpoint torch would write but that no test may run torch for, or one that torch never would.
 */
final class PickleWriter {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private int memo;
    /** The memo index of each name already stored, as the pickler fetches a repeated string or global. */
    private final Map<String, Integer> stored = new HashMap<>();

    PickleWriter op(int... bytes) {
        for (int b : bytes) out.write(b);
        return this;
    }

    PickleWriter proto2() { return op(0x80, 2); }
    PickleWriter mark() { return op('('); }
    PickleWriter stop() { return op('.'); }
    PickleWriter emptyList() { return op(']'); }
    PickleWriter emptyDict() { return op('}'); }
    PickleWriter emptyTuple() { return op(')'); }
    PickleWriter tuple() { return op('t'); }
    PickleWriter append() { return op('a'); }
    PickleWriter appends() { return op('e'); }
    PickleWriter setitem() { return op('s'); }
    PickleWriter setitems() { return op('u'); }
    PickleWriter reduce() { return op('R'); }

    /** BINPUT below 256 entries, LONG_BINPUT from there on, as the pickler numbers them; returns the index via last(). */
    PickleWriter put() {
        int i = memo++;
        return i < 256 ? op('q', i) : op('r').le32(i);
    }

    int last() { return memo - 1; }

    PickleWriter get(int i) { return i < 256 ? op('h', i) : op('j').le32(i); }

    PickleWriter le32(long v) { return op((int) v & 0xFF, (int) (v >> 8) & 0xFF, (int) (v >> 16) & 0xFF, (int) (v >> 24) & 0xFF); }

    PickleWriter integer(long v) {
        if (v >= 0 && v < 256) return op('K', (int) v);
        if (v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE) return op('J').le32(v);
        op(0x8a, 8);
        for (int i = 0; i < 8; i++) op((int) (v >> (8 * i)) & 0xFF);
        return this;
    }

    PickleWriter string(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        op('X').le32(b.length);
        out.writeBytes(b);
        return this;
    }

    /** A string stored once and fetched from the memo after, as the pickler does with an object it has seen. */
    PickleWriter sharedString(String s) {
        Integer i = stored.get("s:" + s);
        if (i != null) return get(i);
        string(s).put();
        stored.put("s:" + s, last());
        return this;
    }

    PickleWriter global(String module, String name) {
        Integer i = stored.get("g:" + module + "." + name);
        if (i != null) return get(i);
        op('c');
        out.writeBytes((module + "\n" + name + "\n").getBytes(StandardCharsets.US_ASCII));
        put();
        stored.put("g:" + module + "." + name, last());
        return this;
    }

    /** torch's _rebuild_tensor_v2(storage key, 0, shape, contiguous strides, False, OrderedDict()), memo entries as torch puts them. */
    PickleWriter tensor(String key, long elements, long... shape) {
        global("torch._utils", "_rebuild_tensor_v2");
        mark();
        mark().sharedString("storage").global("torch", "FloatStorage").string(key).put().sharedString("cpu").integer(elements).tuple().put();
        op('Q');
        integer(0);
        long[] stride = CheckpointTensor.contiguousStrides(shape);
        mark();
        for (long d : shape) integer(d);
        tuple().put();
        mark();
        for (long s : stride) integer(s);
        tuple().put();
        op(0x89);
        global("collections", "OrderedDict").emptyTuple().reduce().put();
        tuple().put();
        return reduce().put();
    }

    byte[] bytes() { return out.toByteArray(); }

    /** A torch.save zip: archive/data.pkl, archive/byteorder and archive/data/KEY per storage (key, bytes pairs). */
    static void zip(Path file, byte[] pickle, Object... storages) throws IOException {
        try (OutputStream f = Files.newOutputStream(file); ZipOutputStream z = new ZipOutputStream(f)) {
            entry(z, "archive/data.pkl", pickle);
            entry(z, "archive/byteorder", "little".getBytes(StandardCharsets.US_ASCII));
            for (int i = 0; i < storages.length; i += 2) entry(z, "archive/data/" + storages[i], (byte[]) storages[i + 1]);
        }
    }

    static void entry(ZipOutputStream z, String name, byte[] bytes) throws IOException {
        z.putNextEntry(new ZipEntry(name));
        z.write(bytes);
        z.closeEntry();
    }
}
