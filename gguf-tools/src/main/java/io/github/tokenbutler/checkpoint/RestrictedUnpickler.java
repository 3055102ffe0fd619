package io.github.tokenbutler.checkpoint;

import io.github.tokenbutler.runtime.Llama3.UserError;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashMap;
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

    private static final Object MARK = new Object() {
        @Override public String toString() { return "MARK"; }
    };

    private final byte[] data;
    private final String where;
    private int pos;
    private final Deque<Object> stack = new ArrayDeque<>();
    private final Deque<Integer> marks = new ArrayDeque<>();
    private final Map<Long, Object> memo = new HashMap<>();

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
                case '(' -> { marks.push(stack.size()); stack.push(MARK); }
                case ']' -> stack.push(new ArrayList<>());  // EMPTY_LIST
                case '}' -> stack.push(new LinkedHashMap<>()); // EMPTY_DICT
                case ')' -> stack.push(new Tuple(List.of())); // EMPTY_TUPLE
                case 'N' -> stack.push(NONE);
                case 0x88 -> stack.push(Boolean.TRUE);      // NEWTRUE
                case 0x89 -> stack.push(Boolean.FALSE);     // NEWFALSE
                case 'K' -> stack.push((long) u8());        // BININT1
                case 'M' -> stack.push((long) (u8() | u8() << 8)); // BININT2
                case 'J' -> stack.push((long) s32());       // BININT
                case 0x8a -> stack.push(long1(at));         // LONG1
                case 'G' -> stack.push(Double.longBitsToDouble(be64())); // BINFLOAT
                case 'X' -> stack.push(string(len32(at)));  // BINUNICODE
                case 0x8c -> stack.push(string(u8()));      // SHORT_BINUNICODE
                case 'q' -> memo.put((long) u8(), peek(at));      // BINPUT
                case 'r' -> memo.put(len32(at) & 0xFFFFFFFFL, peek(at)); // LONG_BINPUT
                case 0x94 -> memo.put((long) memo.size(), peek(at));    // MEMOIZE
                case 'h' -> stack.push(get(at, u8()));      // BINGET
                case 'j' -> stack.push(get(at, len32(at) & 0xFFFFFFFFL)); // LONG_BINGET
                case 't' -> stack.push(new Tuple(popToMark(at)));  // TUPLE
                case 0x85 -> stack.push(new Tuple(popN(at, 1)));   // TUPLE1
                case 0x86 -> stack.push(new Tuple(popN(at, 2)));   // TUPLE2
                case 0x87 -> stack.push(new Tuple(popN(at, 3)));   // TUPLE3
                case 'a' -> { Object v = pop(at); list(at, peek(at)).add(v); } // APPEND
                case 'e' -> { List<Object> items = popToMark(at); list(at, peek(at)).addAll(items); } // APPENDS
                case 's' -> { Object v = pop(at), k = pop(at); dict(at, peek(at)).put(k, v); } // SETITEM
                case 'u' -> { // SETITEMS
                    List<Object> items = popToMark(at);
                    Map<Object, Object> d = dict(at, peek(at));
                    for (int i = 0; i + 1 < items.size(); i += 2) d.put(items.get(i), items.get(i + 1));
                }
                case 'c' -> stack.push(global(at, line(at), line(at))); // GLOBAL
                case 0x93 -> { // STACK_GLOBAL
                    Object name = pop(at), module = pop(at);
                    if (!(module instanceof String m) || !(name instanceof String n)) throw error(at, "STACK_GLOBAL without two strings");
                    stack.push(global(at, m, n));
                }
                case 'Q' -> stack.push(persistentId(at, pop(at))); // BINPERSID
                case 'R' -> { Object args = pop(at), callable = pop(at); stack.push(reduce(at, callable, args)); } // REDUCE
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
                yield new LinkedHashMap<>();
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
            if (!(items.get(i) instanceof Long v) || v < 0) throw error(at, "a tensor size or stride that is not a non-negative integer: " + items);
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
        return v;
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
        List<Object> items = new ArrayList<>();
        while (stack.size() > depth + 1) items.add(0, stack.pop());
        stack.pop(); // the MARK
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

    private static String describe(Object o) {
        String s = String.valueOf(o);
        return s.length() > 120 ? s.substring(0, 120) + "..." : s;
    }

    private UserError error(int offset, String what) {
        return new UserError(where + ": " + what + " (at byte " + offset + " of the pickle); a checkpoint is read as a state dict only");
    }
}
