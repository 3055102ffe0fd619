package io.github.tokenbutler.checkpoint;

import io.github.tokenbutler.runtime.Llama3.UserError;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The checkpoint readers on files the tests write byte by byte: what torch.save writes beyond the small committed
 * fixtures (more than 256 memo entries, safetensors shards over 2 GiB), and hostile files, each of which must be
 * one UserError naming what was found (never a stack overflow, an out-of-memory error or a hang). The timeouts
 * only guard against a hang; they measure nothing.
 */
class CheckpointReadersTest {
    @TempDir Path dir;

    static byte[] floats(float... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) b.putFloat(f);
        return b.array();
    }

    static UserError refused(Executable e, String... parts) {
        UserError u = assertThrows(UserError.class, e);
        for (String p : parts) assertTrue(u.getMessage().contains(p), "'" + p + "' in: " + u.getMessage());
        assertTrue(u.getMessage().length() < 600 && !u.getMessage().contains("\n"), "one short line: " + u.getMessage());
        return u;
    }

    static Object load(PickleWriter w) { return RestrictedUnpickler.load(w.bytes(), "test.pkl"); }

    // ---------------------------------------------------------------------------------------- memo indices

    @Test void longBinputAndLongBingetIndicesAreMemoNumbersNotLengths() {
        PickleWriter w = new PickleWriter().proto2().emptyDict().put().mark();
        for (int i = 0; i < 400; i++) w.string("key" + i).put().string("value" + i).put();
        w.string("again").get(302).setitems().stop();   // index 302 (LONG_BINGET) > the bytes left after it
        assertTrue(w.last() > 300, "LONG_BINPUT in use: " + w.last());
        Map<?, ?> m = (Map<?, ?>) load(w);
        assertEquals(401, m.size());
        assertEquals("value399", m.get("key399"));
        assertEquals("value150", m.get("again"), "memo 0 is the dict, then key i is 1 + 2i and value i 2 + 2i");
    }

    /** The layout of the authors' v2 files: a list of eight producer state dicts, each with its _metadata, 300+ memo entries. */
    @Test void eightProducerStateDictsWithMetadataAsTorchSavesThem() throws IOException {
        PickleWriter w = new PickleWriter().proto2().emptyList().put().mark();
        List<String> names = List.of("norm_importance.weight", "norm_importance.bias", "q_mlps.0.0.weight", "q_mlps.0.2.weight", "key_cache_proj");
        Object[] storages = new Object[2 * 8 * names.size()];
        int key = 0;
        for (int p = 0; p < 8; p++) {
            w.global("collections", "OrderedDict").emptyTuple().reduce().put().mark();
            for (String name : names) {
                w.string("sparse_token_predictor." + name).put().tensor(String.valueOf(key), 2, 2);
                storages[2 * key] = String.valueOf(key);
                storages[2 * key + 1] = floats(key, -key);
                key++;
            }
            w.setitems();
            // _metadata: an OrderedDict of {'': {'version': 1}, ...} set by BUILD, as nn.Module.state_dict does
            w.emptyDict().put().string("_metadata").put().global("collections", "OrderedDict").emptyTuple().reduce().put().mark();
            for (String module : List.of("", "sparse_token_predictor", "sparse_token_predictor.q_mlps")) {
                w.string(module).put().emptyDict().put().sharedString("version").integer(1).setitem();
            }
            w.setitems().setitem().op('b');
        }
        w.appends().stop();
        assertTrue(w.last() > 300, "memo entries: " + w.last());
        Path file = dir.resolve("v2_eight.pt");
        PickleWriter.zip(file, w.bytes(), storages);
        Checkpoint c = Checkpoint.read(file);
        assertEquals(8, c.stateDicts().size());
        CheckpointTensor t = c.stateDicts().get(7).get("sparse_token_predictor.key_cache_proj");
        assertArrayEquals(new float[]{39, -39}, t.toFloats("test"));
    }

    @Test void aMemoIndexBeyondWhatIsKeptIsRefused() {
        PickleWriter w = new PickleWriter().proto2().emptyList().op('r').le32(0xFFFFFFF0L).stop();
        refused(() -> load(w), "memo index 4294967280", "at most");
    }

    // ---------------------------------------------------------------------------------------- hostile pickles

    @Test @Timeout(60) void anExponentialStructureThroughTheMemoIsRefused() {
        PickleWriter w = new PickleWriter().proto2().integer(1).integer(2).op(0x86).put();
        for (int i = 0; i < 60; i++) w.get(w.last()).get(w.last()).op(0x86).put();   // t_i = (t_i-1, t_i-1): 2^60 leaves
        w.stop();
        refused(() -> load(w), "memo entry 1", "tuple holding a container", "exponential or cyclic");
        PickleWriter lists = new PickleWriter().proto2().emptyList().put().emptyList().get(0).append().stop();
        refused(() -> load(lists), "memo entry 0", "is a list");
        PickleWriter dicts = new PickleWriter().proto2().emptyDict().put().emptyList().get(0).append().stop();
        refused(() -> load(dicts), "memo entry 0", "is a dict");
    }

    @Test void scalarTuplesAndTensorsMayBeSharedAsTorchSharesThem() {
        PickleWriter w = new PickleWriter().proto2().emptyList().put().mark();
        w.integer(64).integer(1).op(0x86).put();
        int sizes = w.last();
        w.get(sizes).get(sizes).appends().stop();
        List<?> l = (List<?>) load(w);
        assertEquals(3, l.size());
        assertEquals(l.get(1), l.get(2));
    }

    @Test @Timeout(60) void aCycleIsRefused() {
        PickleWriter self = new PickleWriter().proto2().emptyList().put().get(0).append().stop();
        refused(() -> load(self), "memo entry 0", "is a list");
        // a list (or any container) as a dict key: Python refuses it, and hashing a cyclic one would recurse forever
        PickleWriter key = new PickleWriter().proto2().emptyDict().emptyList().integer(1).setitem().stop();
        refused(() -> load(key), "a dict key that is a list", "keys are strings");
    }

    @Test @Timeout(60) void deepNestingIsRefused() {
        PickleWriter lists = new PickleWriter().proto2();
        for (int i = 0; i < 200_000; i++) lists.emptyList();
        for (int i = 1; i < 200_000; i++) lists.append();
        lists.stop();
        refused(() -> load(lists), "nested more than " + RestrictedUnpickler.MAX_DEPTH);
        PickleWriter tuples = new PickleWriter().proto2().emptyTuple();
        for (int i = 0; i < 200_000; i++) tuples.op(0x85);
        tuples.stop();
        refused(() -> load(tuples), "nested more than " + RestrictedUnpickler.MAX_DEPTH);
        PickleWriter dicts = new PickleWriter().proto2();
        for (int i = 0; i < 200_000; i++) dicts.emptyDict().string("k");
        dicts.emptyList();
        for (int i = 0; i < 200_000; i++) dicts.setitem();
        dicts.stop();
        refused(() -> load(dicts), "nested more than " + RestrictedUnpickler.MAX_DEPTH);
    }

    @Test @Timeout(60) void manyItemsAfterOneMarkAreReadInLinearTime() {
        PickleWriter w = new PickleWriter().proto2().emptyList().mark();
        for (int i = 0; i < 400_000; i++) w.integer(i % 250);
        w.appends().stop();
        List<?> l = (List<?>) load(w);
        assertEquals(400_000, l.size());
        assertEquals(249L, l.get(249));
        assertEquals(0L, l.get(250));
    }

    @Test @Timeout(60) void tooManyObjectsAreRefused() {
        PickleWriter w = new PickleWriter().proto2();
        for (int i = 0; i <= RestrictedUnpickler.MAX_OBJECTS; i++) w.op('N');
        w.stop();
        refused(() -> load(w), "more than " + RestrictedUnpickler.MAX_OBJECTS + " objects");
        PickleWriter memo = new PickleWriter().proto2().op('N');
        for (int i = 0; i <= RestrictedUnpickler.MAX_OBJECTS; i++) memo.op('q', i & 0xFF);
        memo.stop();
        refused(() -> load(memo), "more than " + RestrictedUnpickler.MAX_OBJECTS + " objects and memo entries");
    }

    @Test @Timeout(60) void aHugeValueInAMessageIsCut() {
        PickleWriter w = new PickleWriter().proto2().mark().string("storage");
        for (int i = 0; i < 300_000; i++) w.integer(7);
        w.tuple().op('Q').stop();
        UserError e = refused(() -> load(w), "a persistent id other than");
        assertTrue(e.getMessage().contains("('storage', 7, 7,") && e.getMessage().contains("..."), e.getMessage());
    }

    // ---------------------------------------------------------------------------------------- zip entries

    @Test void aPickleEntryOverTheLimitIsRefusedUnread() throws IOException {
        Path file = dir.resolve("big.pt");
        PickleWriter.zip(file, new byte[TorchZip.MAX_PICKLE_BYTES + 1]);
        refused(() -> Checkpoint.read(file), "archive/data.pkl is " + (TorchZip.MAX_PICKLE_BYTES + 1) + " bytes",
                "expected at most " + TorchZip.MAX_PICKLE_BYTES);
    }

    @Test void onlyTheStoragesOfTheStateDictsUsedAreReadAndOnlyWhenAsked() throws IOException {
        // a training checkpoint: the model's state dict beside optimizer state whose storages are absent or huge
        PickleWriter w = new PickleWriter().proto2().emptyDict().put().mark();
        w.string("model_state_dict").put().emptyDict().put().string("w").put().tensor("0", 4, 4).setitem();
        w.string("optimizer").put().emptyDict().put().mark()
                .string("absent").put().tensor("1", 4, 4)
                .string("huge").put().tensor("2", 1L << 40, 1L << 40).setitems();
        w.setitems().stop();
        Path file = dir.resolve("training.pt");
        PickleWriter.zip(file, w.bytes(), "0", floats(1, 2, 3, 4), "2", new byte[16]);
        Checkpoint c = Checkpoint.read(file);
        assertEquals(List.of("w"), List.copyOf(c.stateDicts().getFirst().keySet()));
        assertArrayEquals(new float[]{1, 2, 3, 4}, c.stateDicts().getFirst().get("w").toFloats("test"));
    }

    @Test void aStorageEntryLargerOrSmallerThanDeclaredIsRefused() throws IOException {
        PickleWriter w = new PickleWriter().proto2().emptyDict().put().string("w").put().tensor("0", 4, 4).setitem().stop();
        Path longer = dir.resolve("longer.pt");
        PickleWriter.zip(longer, w.bytes(), "0", new byte[17]);
        CheckpointTensor t = Checkpoint.read(longer).stateDicts().getFirst().get("w");
        refused(() -> t.toFloats("test"), "archive/data/0 is 17 bytes", "expected at most 16");
        Path shorter = dir.resolve("shorter.pt");
        PickleWriter.zip(shorter, w.bytes(), "0", new byte[15]);
        CheckpointTensor s = Checkpoint.read(shorter).stateDicts().getFirst().get("w");
        refused(() -> s.toFloats("test"), "storage '0' holds 15 bytes, needs 16");
        Path missing = dir.resolve("missing.pt");
        PickleWriter.zip(missing, w.bytes());
        refused(() -> Checkpoint.read(missing), "storage '0' is missing");
        PickleWriter huge = new PickleWriter().proto2().emptyDict().put().string("w").put().tensor("0", 1L << 40, 4).setitem().stop();
        Path declared = dir.resolve("declared.pt");
        PickleWriter.zip(declared, huge.bytes(), "0", new byte[16]);
        CheckpointTensor h = Checkpoint.read(declared).stateDicts().getFirst().get("w");
        refused(() -> h.toFloats("test"), "storage '0' declares 1099511627776 F32 elements", "2 GiB");
    }

    // ---------------------------------------------------------------------------------------- safetensors

    static byte[] header(String json) {
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(8 + h.length).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).put(h).array();
    }

    /** A shard larger than a ByteBuffer spans: a sparse file (no disk used) with one small tensor at its end. */
    @Test void aSafetensorsFileOver2GiBIsMappedAndItsTensorsRead() throws IOException {
        long begin = (1L << 31) + 4096;
        byte[] h = header("{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[" + begin + "," + (begin + 16) + "]}}");
        Path file = dir.resolve("big.safetensors");
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(h.length + begin + 16);
            f.write(h);
            f.seek(h.length + begin);
            f.write(floats(1, 2, 3, 4));
        }
        assertTrue(Files.size(file) > Integer.MAX_VALUE);
        Checkpoint c = Checkpoint.read(file);
        assertEquals("safetensors", c.format());
        assertArrayEquals(new float[]{1, 2, 3, 4}, c.stateDicts().getFirst().get("w").toFloats("test"));
    }

    @Test void aSafetensorsShapeWhoseElementCountOverflowsIsRefused() throws IOException {
        Path file = dir.resolve("overflow.safetensors");
        Files.write(file, header("{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,0]}}"));
        refused(() -> Checkpoint.read(file), "tensor 'w' has shape [4611686018427387904,4]", "more elements than a 64-bit count holds");
        Path fraction = dir.resolve("fraction.safetensors");
        Files.write(fraction, header("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}"));
        refused(() -> Checkpoint.read(fraction), "tensor 'w' has shape [1.5]", "non-negative integers");
    }

    // ---------------------------------------------------------------------------------------- strides

    static CheckpointTensor.Storage storage(int elements) {
        return new CheckpointTensor.Storage() {
            @Override public ByteBuffer bytes() { return ByteBuffer.wrap(new byte[4 * elements]); }
            @Override public long elements() { return elements; }
        };
    }

    @Test void shapesAndStridesThatWrapALongAreRefused() {
        CheckpointTensor count = new CheckpointTensor("w", CheckpointTensor.DType.F32, new long[]{1L << 62, 4}, new long[]{4, 1}, 0, storage(16));
        refused(() -> count.toFloats("test"), "test: tensor 'w' has shape [4611686018427387904, 4]", "more elements than a 64-bit count holds");
        // (3 - 1) * 2^62 wraps to a negative last element, which a plain bounds check would let through
        CheckpointTensor reach = new CheckpointTensor("w", CheckpointTensor.DType.F32, new long[]{3}, new long[]{1L << 62}, 0, storage(16));
        refused(() -> reach.toFloats("test"), "reaches element beyond 2^63", "of a storage of 16");
        CheckpointTensor offset = new CheckpointTensor("w", CheckpointTensor.DType.F32, new long[]{2}, new long[]{1}, Long.MAX_VALUE, storage(16));
        refused(() -> offset.toFloats("test"), "reaches element beyond 2^63");
    }
}
