package io.github.tokenbutler.checkpoint;

import io.github.tokenbutler.runtime.Llama3.UserError;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * A torch.save file (PyTorch 1.6 and later): a zip whose entries sit under one folder, {@code data.pkl} (the
 * pickle, read by {@link RestrictedUnpickler}), {@code data/KEY} (the bytes of storage KEY) and, from some
 * versions on, {@code byteorder}. A storage is read when a tensor's values are first asked for, once, and only
 * then: a training checkpoint's optimizer state or a full model's weights beside the predictor are never read.
 * Every read is bounded by what the entry may hold (the pickle {@value #MAX_PICKLE_BYTES} bytes, a storage its
 * declared elements), whatever the zip claims.
 */
final class TorchZip {
    private TorchZip() {}

    /** A state dict's pickle is a few kilobytes per hundred tensors; 64 MiB is far beyond any. */
    static final int MAX_PICKLE_BYTES = 64 << 20;
    private static final int MAX_BYTEORDER_BYTES = 16;
    /** The largest byte[] the JVM gives. */
    private static final long MAX_STORAGE_BYTES = Integer.MAX_VALUE - 8;

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
                String o = new String(bytes(zip, order, MAX_BYTEORDER_BYTES, where), StandardCharsets.US_ASCII).trim();
                if (!o.equals("little")) throw new UserError(where + ": byteorder is '" + o + "'; only little-endian checkpoints are supported");
            }
            Object root = RestrictedUnpickler.load(bytes(zip, pickle, MAX_PICKLE_BYTES, where), where);
            Storages storages = new Storages(path, folder, where, zip::getEntry);
            return new Checkpoint(path, "torch.save zip", stateDicts(root, where, storages));
        } catch (IOException e) {
            throw new UserError(where + ": cannot read the zip: " + e.getMessage());
        }
    }

    /**
     * The storages of one file, each read on first use (the zip opened again then: a Checkpoint holds no open
     * file) and kept, since tensors share storages. {@code entries} checks that a storage exists while the zip is
     * first open, so a missing one is named when the file is read, not later.
     */
    static final class Storages {
        private final Path path;
        private final String folder, where;
        private final java.util.function.Function<String, ZipEntry> entries;
        private final Map<String, byte[]> read = new ConcurrentHashMap<>();

        Storages(Path path, String folder, String where, java.util.function.Function<String, ZipEntry> entries) {
            this.path = path;
            this.folder = folder;
            this.where = where;
            this.entries = entries;
        }

        void requireEntry(String key) {
            String name = folder + "data/" + key;
            if (entries.apply(name) == null) throw new UserError(where + ": storage '" + key + "' is missing (no entry " + name + ")");
        }

        byte[] bytes(RestrictedUnpickler.StorageRef s) {
            return read.computeIfAbsent(s.key(), key -> {
                long needed = storageBytes(s, where);
                try (ZipFile zip = new ZipFile(path.toFile())) {
                    ZipEntry e = zip.getEntry(folder + "data/" + key);
                    if (e == null) throw new UserError(where + ": storage '" + key + "' is missing (no entry " + folder + "data/" + key + ")");
                    byte[] b = TorchZip.bytes(zip, e, (int) needed, where);
                    if (b.length < needed) throw new UserError(where + ": storage '" + key + "' holds " + b.length + " bytes, needs " + needed);
                    return b;
                } catch (IOException e) {
                    throw new UserError(where + ": cannot read the zip again for storage '" + key + "': " + e.getMessage());
                }
            });
        }
    }

    /** The bytes a storage declares (elements times the element size), which a byte[] must be able to hold. */
    static long storageBytes(RestrictedUnpickler.StorageRef s, String where) {
        long bytes;
        try {
            bytes = Math.multiplyExact(s.elements(), s.dtype().bytes);
        } catch (ArithmeticException e) {
            bytes = Long.MAX_VALUE;
        }
        if (s.elements() < 0 || bytes > MAX_STORAGE_BYTES) {
            throw new UserError(where + ": storage '" + s.key() + "' declares " + s.elements() + " " + s.dtype() + " elements; expected at most "
                    + MAX_STORAGE_BYTES / s.dtype().bytes + " (2 GiB), which is far more than a predictor needs");
        }
        return bytes;
    }

    /**
     * The state dicts of the pickle: a list of dicts (the authors' per-producer list), one dict, or a training
     * checkpoint dict whose 'model_state_dict' is either. Anything else is a UserError saying what was found.
     */
    static List<Map<String, CheckpointTensor>> stateDicts(Object root, String where, Storages storages) {
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

    private static Map<String, CheckpointTensor> stateDict(Object o, String where, Storages storages) {
        if (!(o instanceof Map<?, ?> m)) throw new UserError(where + ": a " + kind(o) + " where a state dict (a dict of tensors) is expected");
        Map<String, CheckpointTensor> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : m.entrySet()) {
            if (!(e.getKey() instanceof String name)) throw new UserError(where + ": a key that is not a string: " + e.getKey());
            if (!(e.getValue() instanceof RestrictedUnpickler.TensorRef t)) {
                throw new UserError(where + ": entry '" + name + "' is a " + kind(e.getValue()) + ", not a tensor");
            }
            RestrictedUnpickler.StorageRef ref = t.storage();
            storages.requireEntry(ref.key());
            long elements = ref.elements();
            CheckpointTensor.Storage storage = new CheckpointTensor.Storage() {
                @Override public ByteBuffer bytes() { return ByteBuffer.wrap(storages.bytes(ref)); }
                @Override public long elements() { return elements; }
            };
            out.put(name, new CheckpointTensor(name, ref.dtype(), t.shape(), t.stride(), t.offset(), storage));
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
            default -> RestrictedUnpickler.isNone(o) ? "None" : o.getClass().getSimpleName() + " (" + RestrictedUnpickler.describe(o) + ")";
        };
    }

    /** An entry's bytes, at most limit of them: a larger entry (as the zip declares it, or as it inflates) is refused. */
    static byte[] bytes(ZipFile zip, ZipEntry e, int limit, String where) {
        if (e.getSize() > limit) {
            throw new UserError(where + ": zip entry " + e.getName() + " is " + e.getSize() + " bytes; expected at most " + limit);
        }
        try (InputStream in = zip.getInputStream(e)) {
            byte[] b = in.readNBytes(limit);
            if (in.read() >= 0) {
                throw new UserError(where + ": zip entry " + e.getName() + " holds more than " + limit + " bytes (expected at most " + limit
                        + (e.getSize() >= 0 ? ", the zip declares " + e.getSize() : "") + ")");
            }
            return b;
        } catch (IOException ex) {
            throw new UserError(where + ": cannot read zip entry " + e.getName() + ": " + ex.getMessage());
        }
    }
}
