package io.github.tokenbutler.checkpoint;

import io.github.tokenbutler.runtime.Llama3.UserError;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * A torch.save file (PyTorch 1.6 and later): a zip whose entries sit under one folder, {@code data.pkl} (the
 * pickle, read by {@link RestrictedUnpickler}), {@code data/KEY} (the bytes of storage KEY) and, from some
 * versions on, {@code byteorder}. Storages are read when a tensor's values are asked for, each once.
 */
final class TorchZip {
    private TorchZip() {}

    static Checkpoint read(Path path) {
        String where = "checkpoint " + path;
        try (ZipFile zip = new ZipFile(path.toFile())) {
            ZipEntry pickle = null;
            for (var entries = zip.entries(); entries.hasMoreElements(); ) {
                ZipEntry e = entries.nextElement();
                if (e.getName().endsWith("/data.pkl") && e.getName().indexOf('/') == e.getName().length() - "/data.pkl".length()) pickle = e;
            }
            if (pickle == null) throw new UserError(where + ": a zip without a <name>/data.pkl entry, so not a torch.save file");
            String folder = pickle.getName().substring(0, pickle.getName().length() - "data.pkl".length());
            ZipEntry order = zip.getEntry(folder + "byteorder");
            if (order != null) {
                String o = new String(bytes(zip, order, where), StandardCharsets.US_ASCII).trim();
                if (!o.equals("little")) throw new UserError(where + ": byteorder is '" + o + "'; only little-endian checkpoints are supported");
            }
            Object root = RestrictedUnpickler.load(bytes(zip, pickle, where), where);
            Map<String, byte[]> storages = new HashMap<>();
            for (StorageKey k : storageKeys(root)) {
                ZipEntry e = zip.getEntry(folder + "data/" + k.key());
                if (e == null) throw new UserError(where + ": storage '" + k.key() + "' is missing (no entry " + folder + "data/" + k.key() + ")");
                storages.computeIfAbsent(k.key(), key -> bytes(zip, e, where));
            }
            return new Checkpoint(path, "torch.save zip", stateDicts(root, where, storages));
        } catch (IOException e) {
            throw new UserError(where + ": cannot read the zip: " + e.getMessage());
        }
    }

    private record StorageKey(String key) {}

    /** Every storage the tensors refer to; they are few and small enough to hold (a predictor, not a model). */
    private static List<StorageKey> storageKeys(Object root) {
        List<StorageKey> keys = new ArrayList<>();
        walk(root, o -> { if (o instanceof RestrictedUnpickler.TensorRef t) keys.add(new StorageKey(t.storage().key())); });
        return keys;
    }

    private static void walk(Object o, java.util.function.Consumer<Object> visit) {
        visit.accept(o);
        if (o instanceof Map<?, ?> m) m.values().forEach(v -> walk(v, visit));
        else if (o instanceof List<?> l) l.forEach(v -> walk(v, visit));
        else if (o instanceof RestrictedUnpickler.Tuple(List<Object> items)) items.forEach(v -> walk(v, visit));
    }

    /**
     * The state dicts of the pickle: a list of dicts (the authors' per-producer list), one dict, or a training
     * checkpoint dict whose 'model_state_dict' is either. Anything else is a UserError saying what was found.
     */
    static List<Map<String, CheckpointTensor>> stateDicts(Object root, String where, Map<String, byte[]> storages) {
        Object body = root;
        if (root instanceof Map<?, ?> m && m.containsKey("model_state_dict")) body = m.get("model_state_dict");
        List<Map<String, CheckpointTensor>> out = new ArrayList<>();
        if (body instanceof List<?> list) {
            for (int i = 0; i < list.size(); i++) out.add(stateDict(list.get(i), where + ", state dict " + i, storages));
        } else if (body instanceof Map<?, ?>) {
            out.add(stateDict(body, where, storages));
        } else {
            throw new UserError(where + ": holds a " + kind(body) + ", not a state dict (a dict of tensors) or a list of them");
        }
        if (out.isEmpty()) throw new UserError(where + ": holds an empty list, no state dict");
        return out;
    }

    private static Map<String, CheckpointTensor> stateDict(Object o, String where, Map<String, byte[]> storages) {
        if (!(o instanceof Map<?, ?> m)) throw new UserError(where + ": a " + kind(o) + " where a state dict (a dict of tensors) is expected");
        Map<String, CheckpointTensor> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : m.entrySet()) {
            if (!(e.getKey() instanceof String name)) throw new UserError(where + ": a key that is not a string: " + e.getKey());
            if (!(e.getValue() instanceof RestrictedUnpickler.TensorRef t)) {
                throw new UserError(where + ": entry '" + name + "' is a " + kind(e.getValue()) + ", not a tensor");
            }
            byte[] bytes = storages.get(t.storage().key());
            long elements = t.storage().elements();
            CheckpointTensor.Storage storage = new CheckpointTensor.Storage() {
                @Override public ByteBuffer bytes() {
                    if (bytes.length < elements * t.storage().dtype().bytes) {
                        throw new UserError(where + ": storage '" + t.storage().key() + "' holds " + bytes.length + " bytes, needs "
                                + elements * t.storage().dtype().bytes);
                    }
                    return ByteBuffer.wrap(bytes);
                }
                @Override public long elements() { return elements; }
            };
            out.put(name, new CheckpointTensor(name, t.storage().dtype(), t.shape(), t.stride(), t.offset(), storage));
        }
        return out;
    }

    private static String kind(Object o) {
        return switch (o) {
            case null -> "nothing";
            case Map<?, ?> m -> "dict";
            case List<?> l -> "list";
            case RestrictedUnpickler.Tuple t -> "tuple";
            case RestrictedUnpickler.TensorRef t -> "single tensor";
            default -> RestrictedUnpickler.isNone(o) ? "None" : o.getClass().getSimpleName() + " (" + o + ")";
        };
    }

    private static byte[] bytes(ZipFile zip, ZipEntry e, String where) {
        try (InputStream in = zip.getInputStream(e)) {
            return in.readAllBytes();
        } catch (IOException ex) {
            throw new UserError(where + ": cannot read zip entry " + e.getName() + ": " + ex.getMessage());
        }
    }
}
