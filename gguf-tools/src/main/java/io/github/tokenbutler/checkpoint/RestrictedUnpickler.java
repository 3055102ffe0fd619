package io.github.tokenbutler.checkpoint;

import io.github.tokenbutler.runtime.Llama3.UserError;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads the pickle of a torch.save file as plain data, with only what a state dict needs: the opcodes of pickle
 * protocols 2 to 4 that build lists, tuples, dicts, strings, numbers and booleans, and five callables
 * (collections.OrderedDict, torch._utils._rebuild_tensor_v2 and _rebuild_parameter, the typed storage classes as
 * persistent ids). Every other opcode or class is a UserError naming it and its byte offset. Nothing is executed:
 * a "class" here is a name looked up in a fixed table, and REDUCE applies one of the five meanings above.
 *
 * <p>Results: {@code null}, Boolean, Long, Double, String, {@code List} (Python lists), {@link Tuple},
 * {@code Map} (dict and OrderedDict, insertion order kept), {@link TensorRef}.
 *
 * <p>A hostile pickle runs nothing but could still describe a structure whose size or shape hurts: a container
 * reused through the memo ({@code t = (t, t)} ten times over is exponential, a list appended to itself is a
 * cycle), nesting deeper than a recursive reader survives, or millions of objects. torch.save shares only
 * scalars through the memo (strings, the storage and function names, small tuples of numbers; a tensor twice when
 * weights are tied), so a memo fetch of a list, a dict or a tuple holding a container is refused; dict keys must be
 * strings or integers, nesting is capped at {@value #MAX_DEPTH} levels and the objects and memo entries at
 * {@value #MAX_OBJECTS} together. The results are therefore trees of bounded depth.
 */
public final class RestrictedUnpickler {
    /** A Python tuple. */
    public record Tuple(List<Object> items) {}

    /** A tensor as _rebuild_tensor_v2 describes it: a storage (by its key in the archive), an offset, sizes, strides. */
    public record TensorRef(StorageRef storage, long offset, long[] shape, long[] stride) {}

    /** A persistent id ('storage', type, key, location, elements). */
    public record StorageRef(CheckpointTensor.DType dtype, String key, String location, long elements) {}

    /** A name from GLOBAL or STACK_GLOBAL that the table below allows. */
    private record Global(String module, String name) {
        String qualified() { return module + "." + name; }
    }

    private static final Map<String, CheckpointTensor.DType> STORAGE_TYPES = Map.of(
            "torch.FloatStorage", CheckpointTensor.DType.F32, "torch.HalfStorage", CheckpointTensor.DType.F16,
            "torch.BFloat16Storage", CheckpointTensor.DType.BF16, "torch.DoubleStorage", CheckpointTensor.DType.F64);
    private static final List<String> CALLABLES = List.of("collections.OrderedDict", "torch._utils._rebuild_tensor_v2",
            "torch._utils._rebuild_parameter");

    /** Nesting a state dict never approaches: a list of dicts of tensors of tuples is four. */
    static final int MAX_DEPTH = 64;
    /**
     * Objects pushed plus memo entries stored: a tensor costs about twenty, so this allows some 200,000 tensors
     * while a hostile file of single-byte opcodes cannot fill the heap.
     */
    static final int MAX_OBJECTS = 4_000_000;

    private static final Object MARK = new Object() {
        @Override public String toString() { return "MARK"; }
    };

    private final byte[] data;
    private final String where;
    private int pos;
    private final Deque<Object> stack = new ArrayDeque<>();
    private final Deque<Integer> marks = new ArrayDeque<>();
    private final Map<Long, Object> memo = new HashMap<>();
    /** Nesting depth of each container built (1 for an empty one); scalars are 0. By identity: no hashCode walks. */
    private final Map<Object, Integer> depths = new IdentityHashMap<>();
    private int objects;

    private RestrictedUnpickler(byte[] data, String where) {
        this.data = data;
        this.where = where;
    }

    /** The object the pickle describes; {@code where} names the file in messages. */
    public static Object load(byte[] pickle, String where) {
        return new RestrictedUnpickler(pickle, where).run();
    }

    private Object run() {
        while (true) {
            if (pos >= data.length) throw error(pos, "the pickle ends without a STOP opcode");
            int at = pos;
            int op = data[pos++] & 0xFF;
            switch (op) {
                case 0x80 -> { // PROTO
                    int protocol = u8();
                    if (protocol < 2 || protocol > 5) throw error(at, "pickle protocol " + protocol + " (torch.save writes 2)");
                }
                case 0x95 -> pos += 8;                      // FRAME: a length hint only
                case '.' -> { return pop(at); }             // STOP
                case '(' -> { marks.push(stack.size()); push(at, MARK); }
                case ']' -> push(at, container(new ArrayList<>()));  // EMPTY_LIST
                case '}' -> push(at, container(new LinkedHashMap<>())); // EMPTY_DICT
                case ')' -> push(at, tuple(at, List.of())); // EMPTY_TUPLE
                case 'N' -> push(at, NONE);
                case 0x88 -> push(at, Boolean.TRUE);      // NEWTRUE
                case 0x89 -> push(at, Boolean.FALSE);     // NEWFALSE
                case 'K' -> push(at, (long) u8());        // BININT1
                case 'M' -> push(at, (long) (u8() | u8() << 8)); // BININT2
                case 'J' -> push(at, (long) s32());       // BININT
                case 0x8a -> push(at, long1(at));         // LONG1
                case 'G' -> push(at, Double.longBitsToDouble(be64())); // BINFLOAT
                case 'X' -> push(at, string(len32(at)));  // BINUNICODE
                case 0x8c -> push(at, string(u8()));      // SHORT_BINUNICODE
                case 'q' -> put(at, u8());                  // BINPUT
                case 'r' -> put(at, memoIndex(at));         // LONG_BINPUT
                case 0x94 -> put(at, memo.size());          // MEMOIZE
                case 'h' -> push(at, get(at, u8()));      // BINGET
                case 'j' -> push(at, get(at, memoIndex(at))); // LONG_BINGET
                case 't' -> push(at, tuple(at, popToMark(at)));  // TUPLE
                case 0x85 -> push(at, tuple(at, popN(at, 1)));   // TUPLE1
                case 0x86 -> push(at, tuple(at, popN(at, 2)));   // TUPLE2
                case 0x87 -> push(at, tuple(at, popN(at, 3)));   // TUPLE3
                case 'a' -> { Object v = pop(at); Object l = peek(at); list(at, l).add(v); nested(at, l, v); } // APPEND
                case 'e' -> { // APPENDS
                    List<Object> items = popToMark(at);
                    Object l = peek(at);
                    list(at, l).addAll(items);
                    for (Object v : items) nested(at, l, v);
                }
                case 's' -> { Object v = pop(at), k = pop(at); setItem(at, peek(at), k, v); } // SETITEM
                case 'u' -> { // SETITEMS
                    List<Object> items = popToMark(at);
                    if (items.size() % 2 != 0) throw error(at, "SETITEMS with an odd number of items (" + items.size() + ")");
                    Object d = peek(at);
                    for (int i = 0; i + 1 < items.size(); i += 2) setItem(at, d, items.get(i), items.get(i + 1));
                }
                case 'c' -> push(at, global(at, line(at), line(at))); // GLOBAL
                case 0x93 -> { // STACK_GLOBAL
                    Object name = pop(at), module = pop(at);
                    if (!(module instanceof String m) || !(name instanceof String n)) throw error(at, "STACK_GLOBAL without two strings");
                    push(at, global(at, m, n));
                }
                case 'Q' -> push(at, persistentId(at, pop(at))); // BINPERSID
                case 'R' -> { Object args = pop(at), callable = pop(at); push(at, reduce(at, callable, args)); } // REDUCE
                case 'b' -> { // BUILD: only the attributes of a state dict (its _metadata), which are not needed
                    Object state = pop(at);
                    if (!(peek(at) instanceof Map<?, ?>) || !(state instanceof Map<?, ?>)) {
                        throw error(at, "BUILD of a " + kind(peek(at)) + " (only an OrderedDict's attributes are expected in a state dict)");
                    }
                }
                default -> throw error(at, String.format("opcode 0x%02x%s is not one a state dict needs", op,
                        op >= 0x20 && op < 0x7f ? " ('" + (char) op + "')" : ""));
            }
        }
    }

    private static final Object NONE = new Object() {
        @Override public String toString() { return "None"; }
    };

    /** Python's None as it comes out (null would not fit in the stack). */
    public static boolean isNone(Object o) { return o == NONE; }

    private Object global(int at, String module, String name) {
        Global g = new Global(module, name);
        if (STORAGE_TYPES.containsKey(g.qualified()) || CALLABLES.contains(g.qualified())) return g;
        throw error(at, "class or function '" + g.qualified() + "' is not one a state dict needs (allowed: "
                + String.join(", ", CALLABLES) + ", " + String.join(", ", STORAGE_TYPES.keySet().stream().sorted().toList())
                + "); nothing from this file is run");
    }

    private Object persistentId(int at, Object pid) {
        if (!(pid instanceof Tuple(List<Object> t)) || t.size() != 5 || !"storage".equals(t.get(0)) || !(t.get(1) instanceof Global type)
                || !(t.get(2) instanceof String key) || !(t.get(3) instanceof String location) || !(t.get(4) instanceof Long n)) {
            throw error(at, "a persistent id other than ('storage', type, key, location, size): " + describe(pid));
        }
        CheckpointTensor.DType dtype = STORAGE_TYPES.get(type.qualified());
        if (dtype == null) throw error(at, "storage type '" + type.qualified() + "' (supported: " + STORAGE_TYPES.keySet().stream().sorted().toList() + ")");
        return new StorageRef(dtype, key, location, n);
    }

    private Object reduce(int at, Object callable, Object argsObject) {
        if (!(callable instanceof Global g)) throw error(at, "REDUCE of a " + kind(callable) + ", not of an allowed function");
        if (!(argsObject instanceof Tuple(List<Object> args))) throw error(at, "REDUCE with arguments that are not a tuple");
        return switch (g.qualified()) {
            case "collections.OrderedDict" -> {
                if (!args.isEmpty()) throw error(at, "OrderedDict called with arguments");
                yield container(new LinkedHashMap<>());
            }
            case "torch._utils._rebuild_tensor_v2" -> {
                if (args.size() < 4 || !(args.get(0) instanceof StorageRef s) || !(args.get(1) instanceof Long offset)
                        || !(args.get(2) instanceof Tuple(List<Object> size)) || !(args.get(3) instanceof Tuple(List<Object> stride))
                        || size.size() != stride.size()) {
                    throw error(at, "_rebuild_tensor_v2 with arguments other than (storage, offset, size, stride, ...): " + describe(argsObject));
                }
                yield new TensorRef(s, offset, longs(at, size), longs(at, stride));
            }
            case "torch._utils._rebuild_parameter" -> {
                if (args.isEmpty() || !(args.get(0) instanceof TensorRef t)) throw error(at, "_rebuild_parameter without a tensor");
                yield t;
            }
            default -> throw error(at, "'" + g.qualified() + "' called (a storage type is a persistent id, not a function)");
        };
    }

    private long[] longs(int at, List<Object> items) {
        long[] a = new long[items.size()];
        for (int i = 0; i < a.length; i++) {
            if (!(items.get(i) instanceof Long v) || v < 0) {
                throw error(at, "a tensor size or stride that is not a non-negative integer: " + describe(new Tuple(items)));
            }
            a[i] = v;
        }
        return a;
    }

    @SuppressWarnings("unchecked")
    private List<Object> list(int at, Object o) {
        if (o instanceof List<?> l) return (List<Object>) l;
        throw error(at, "APPEND to a " + kind(o));
    }

    @SuppressWarnings("unchecked")
    private Map<Object, Object> dict(int at, Object o) {
        if (o instanceof Map<?, ?> m) return (Map<Object, Object>) m;
        throw error(at, "SETITEM on a " + kind(o));
    }

    private Object get(int at, long index) {
        Object v = memo.get(index);
        if (v == null) throw error(at, "memo entry " + index + " used before it was stored");
        if (v instanceof List<?> || v instanceof Map<?, ?> || v instanceof Tuple t && t.items().stream().anyMatch(RestrictedUnpickler::isContainer)) {
            throw error(at, "memo entry " + index + " fetched again is a " + kind(v) + (v instanceof Tuple ? " holding a container" : "")
                    + "; torch.save shares only strings, numbers, names, tensors and tuples of those, and a shared container could make the "
                    + "structure exponential or cyclic");
        }
        return v;
    }

    private static boolean isContainer(Object o) { return o instanceof List<?> || o instanceof Map<?, ?> || o instanceof Tuple; }

    private void put(int at, long index) {
        budget(at);
        memo.put(index, peek(at));
    }

    /**
     * A LONG_BINPUT / LONG_BINGET index: unsigned 32 bits. It numbers memo entries, not bytes (torch.save passes
     * 256 entries in any real checkpoint), so it is bounded by how many entries this reader keeps.
     */
    private long memoIndex(int at) {
        long index = s32() & 0xFFFFFFFFL;
        if (index >= MAX_OBJECTS) throw error(at, "memo index " + index + "; at most " + MAX_OBJECTS + " entries are kept");
        return index;
    }

    private void push(int at, Object o) {
        budget(at);
        stack.push(o);
    }

    private void budget(int at) {
        if (++objects > MAX_OBJECTS) {
            throw error(at, "more than " + MAX_OBJECTS + " objects and memo entries; a state dict needs about twenty per tensor");
        }
    }

    private Object container(Object o) {
        depths.put(o, 1);
        return o;
    }

    private int depth(Object o) {
        Integer d = depths.get(o);
        return d == null ? 0 : d;
    }

    private Tuple tuple(int at, List<Object> items) {
        Tuple t = new Tuple(items);
        int d = 0;
        for (Object v : items) d = Math.max(d, depth(v));
        depths.put(t, depth(at, d + 1));
        return t;
    }

    /** v went into container c: c is now at least one deeper than v (c is on the stack, so it is inside nothing yet). */
    private void nested(int at, Object c, Object v) {
        int d = depth(v) + 1;
        if (d > depth(c)) depths.put(c, depth(at, d));
    }

    private int depth(int at, int d) {
        if (d > MAX_DEPTH) throw error(at, "containers nested more than " + MAX_DEPTH + " deep; a state dict is a few levels");
        return d;
    }

    private void setItem(int at, Object d, Object key, Object value) {
        if (!(key instanceof String) && !(key instanceof Long)) {
            throw error(at, "a dict key that is a " + kind(key) + " (" + describe(key) + "); a state dict's keys are strings");
        }
        dict(at, d).put(key, value);
        nested(at, d, value);
    }

    private Object pop(int at) {
        if (stack.isEmpty() || stack.peek() == MARK) throw error(at, "the stack is empty");
        return stack.pop();
    }

    private Object peek(int at) {
        if (stack.isEmpty() || stack.peek() == MARK) throw error(at, "the stack is empty");
        return stack.peek();
    }

    private List<Object> popN(int at, int n) {
        Object[] items = new Object[n];
        for (int i = n - 1; i >= 0; i--) items[i] = pop(at);
        return Arrays.asList(items);
    }

    private List<Object> popToMark(int at) {
        if (marks.isEmpty()) throw error(at, "no MARK to pop to");
        int depth = marks.pop();
        List<Object> items = new ArrayList<>(stack.size() - depth - 1);
        while (stack.size() > depth + 1) items.add(stack.pop());
        stack.pop(); // the MARK
        Collections.reverse(items);
        return items;
    }

    private int u8() {
        if (pos >= data.length) throw error(pos, "the pickle ends inside an opcode");
        return data[pos++] & 0xFF;
    }

    private int s32() { return u8() | u8() << 8 | u8() << 16 | u8() << 24; }

    private int len32(int at) {
        int n = s32();
        if (n < 0 || n > data.length - pos) throw error(at, "a length of " + (n & 0xFFFFFFFFL) + " bytes beyond the pickle's end");
        return n;
    }

    private long be64() {
        long v = 0;
        for (int i = 0; i < 8; i++) v = v << 8 | u8();
        return v;
    }

    private long long1(int at) {
        int n = u8();
        if (n > 8) throw error(at, "an integer of " + n + " bytes (at most 8 are supported)");
        long v = 0;
        for (int i = 0; i < n; i++) v |= (long) u8() << (8 * i);
        if (n > 0 && n < 8 && (v >> (8 * n - 1) & 1) == 1) v |= -1L << (8 * n);
        return v;
    }

    private String string(int n) {
        if (n > data.length - pos) throw error(pos, "a string of " + n + " bytes beyond the pickle's end");
        String s = new String(data, pos, n, StandardCharsets.UTF_8);
        pos += n;
        return s;
    }

    private String line(int at) {
        int start = pos;
        while (pos < data.length && data[pos] != '\n') pos++;
        if (pos >= data.length) throw error(at, "GLOBAL without its end of line");
        return new String(data, start, pos++ - start, StandardCharsets.US_ASCII);
    }

    private static String kind(Object o) {
        return switch (o) {
            case null -> "null";
            case Map<?, ?> m -> "dict";
            case List<?> l -> "list";
            case Tuple t -> "tuple";
            case TensorRef t -> "tensor";
            case Global g -> "'" + g.qualified() + "'";
            default -> o == NONE ? "None" : o.getClass().getSimpleName();
        };
    }

    static final int DESCRIBE_CHARACTERS = 120;

    /**
     * A value as a message shows it, cut after {@value #DESCRIBE_CHARACTERS} characters. Written out here rather
     * than with toString so that a million-item list costs only what is shown.
     */
    static String describe(Object o) {
        StringBuilder b = new StringBuilder();
        describe(o, b, 0);
        return b.length() > DESCRIBE_CHARACTERS ? b.substring(0, DESCRIBE_CHARACTERS) + "..." : b.toString();
    }

    private static void describe(Object o, StringBuilder b, int level) {
        if (b.length() > DESCRIBE_CHARACTERS) return;
        if (level > MAX_DEPTH) { b.append("..."); return; }
        switch (o) {
            case Map<?, ?> m -> {
                b.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    if (b.length() > DESCRIBE_CHARACTERS) return;
                    if (!first) b.append(", ");
                    first = false;
                    describe(e.getKey(), b, level + 1);
                    b.append(": ");
                    describe(e.getValue(), b, level + 1);
                }
                b.append('}');
            }
            case List<?> l -> items(l, "[", "]", b, level);
            case Tuple t -> items(t.items(), "(", t.items().size() == 1 ? ",)" : ")", b, level);
            case String s -> b.append('\'').append(s, 0, Math.min(s.length(), DESCRIBE_CHARACTERS + 1)).append('\'');
            case Global g -> b.append(g.qualified());
            case TensorRef t -> b.append("tensor").append(Arrays.toString(t.shape()));
            case null -> b.append("null");
            default -> b.append(o);
        }
    }

    private static void items(List<?> items, String open, String close, StringBuilder b, int level) {
        b.append(open);
        for (int i = 0; i < items.size(); i++) {
            if (b.length() > DESCRIBE_CHARACTERS) return;
            if (i > 0) b.append(", ");
            describe(items.get(i), b, level + 1);
        }
        b.append(close);
    }

    private UserError error(int offset, String what) {
        return new UserError(where + ": " + what + " (at byte " + offset + " of the pickle); a checkpoint is read as a state dict only");
    }
}
