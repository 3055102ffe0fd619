package io.github.tokenbutler.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A safetensors file: an 8-byte little-endian header length N, N bytes of JSON ({"name": {"dtype", "shape",
 * "data_offsets": [begin, end]}, ..., optional "__metadata__"}), then the data, offsets counted from its start.
 * The file is mapped, so only the tensors whose values are asked for are read (a Hugging Face shard holds the base
 * model's weights beside the predictor's). The mapping is a MemorySegment, not a ByteBuffer, because a shard is
 * usually larger than the 2 GiB a ByteBuffer can span; each tensor's own range becomes a buffer when it is read.
 */
final class Safetensors {
    private Safetensors() {}

    private static final Map<String, CheckpointTensor.DType> TYPES = Map.of("F32", CheckpointTensor.DType.F32, "F16", CheckpointTensor.DType.F16,
            "BF16", CheckpointTensor.DType.BF16, "F64", CheckpointTensor.DType.F64);

    static Checkpoint read(Path path) {
        String where = "checkpoint " + path;
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(lengthBytes, 0);
            long n = lengthBytes.getLong(0);
            if (n <= 0 || n > size - 8 || n > 100_000_000) {
                throw new UserError(where + ": header length " + n + " does not fit a file of " + size + " bytes (not a safetensors file?)");
            }
            ByteBuffer header = ByteBuffer.allocate((int) n);
            while (header.hasRemaining() && ch.read(header, 8 + header.position()) > 0) {
                // a file channel may read less than asked
            }
            JsonNode root;
            try {
                root = new ObjectMapper().readTree(header.array());
            } catch (IOException e) {
                throw new UserError(where + ": the header is not JSON (not a safetensors file?): " + e.getMessage());
            }
            if (root == null || !root.isObject()) throw new UserError(where + ": the header is not a JSON object");
            long dataStart = 8 + n, dataLength = size - dataStart;
            MemorySegment data;
            try {
                // the automatic arena unmaps when the tensors are no longer reachable; a mapping outlives its channel
                data = dataLength == 0 ? MemorySegment.ofArray(new byte[0]) : ch.map(FileChannel.MapMode.READ_ONLY, dataStart, dataLength, Arena.ofAuto());
            } catch (IllegalArgumentException | UnsupportedOperationException e) {
                throw new UserError(where + ": cannot map its " + dataLength + " bytes of data: " + e.getMessage());
            }
            Map<String, CheckpointTensor> tensors = new LinkedHashMap<>();
            for (var it = root.properties().iterator(); it.hasNext(); ) {
                var e = it.next();
                if (e.getKey().equals("__metadata__")) continue;
                tensors.put(e.getKey(), tensor(where, e.getKey(), e.getValue(), data));
            }
            return new Checkpoint(path, "safetensors", List.of(tensors));
        } catch (IOException e) {
            throw new UserError(where + ": cannot read it: " + e.getMessage());
        }
    }

    private static CheckpointTensor tensor(String where, String name, JsonNode t, MemorySegment data) {
        String w = where + ": tensor '" + name + "'";
        CheckpointTensor.DType dtype = TYPES.get(t.path("dtype").asText(""));
        if (dtype == null) throw new UserError(w + " has dtype '" + t.path("dtype").asText("") + "'; supported: " + TYPES.keySet().stream().sorted().toList());
        JsonNode shapeNode = t.path("shape"), offsets = t.path("data_offsets");
        if (!shapeNode.isArray() || !offsets.isArray() || offsets.size() != 2) throw new UserError(w + " lacks a shape or data_offsets [begin, end]");
        long[] shape = new long[shapeNode.size()];
        long elements = 1, bytes;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = integer(shapeNode.get(i));
            if (shape[i] < 0) throw new UserError(w + " has shape " + shapeNode + "; expected non-negative integers");
        }
        try {
            for (long d : shape) elements = Math.multiplyExact(elements, d);
            bytes = Math.multiplyExact(elements, dtype.bytes);
        } catch (ArithmeticException e) {
            throw new UserError(w + " has shape " + shapeNode + ", more elements than a 64-bit count holds; expected a real tensor's shape");
        }
        long begin = integer(offsets.get(0)), end = integer(offsets.get(1)), size = data.byteSize();
        if (begin < 0 || end < begin || end > size || end - begin != bytes) {
            throw new UserError(w + ": data_offsets " + offsets + " should span " + bytes + " bytes inside the " + size + " bytes of data");
        }
        long count = elements;
        CheckpointTensor.Storage storage = new CheckpointTensor.Storage() {
            @Override public ByteBuffer bytes() {
                if (end - begin > Integer.MAX_VALUE) {
                    throw new UserError(w + " is " + (end - begin) + " bytes; expected at most 2 GiB per tensor, far more than a predictor needs");
                }
                return data.asSlice(begin, end - begin).asByteBuffer();
            }
            @Override public long elements() { return count; }
        };
        return new CheckpointTensor(name, dtype, shape, CheckpointTensor.contiguousStrides(shape), 0, storage);
    }

    /** A JSON integer as a long; anything else (a fraction, a string, out of range) as -1, which the callers refuse. */
    private static long integer(JsonNode n) {
        return n != null && n.isIntegralNumber() && n.canConvertToLong() ? n.asLong() : -1;
    }
}
