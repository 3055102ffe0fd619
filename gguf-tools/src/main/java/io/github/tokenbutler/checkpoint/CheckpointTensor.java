package io.github.tokenbutler.checkpoint;

import io.github.tokenbutler.runtime.Llama3.UserError;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * One tensor of a checkpoint: its element type and shape in PyTorch order (the last dimension varies fastest; a
 * Linear weight is [out][in]), and where its elements lie in a storage: element (i0, i1, ...) at
 * {@code offset + i0*stride[0] + i1*stride[1] + ...} of the storage's elements.
 */
public record CheckpointTensor(String name, DType dtype, long[] shape, long[] stride, long offset, Storage storage) {

    /** The element types a predictor checkpoint may use. */
    public enum DType {
        F32(4), F16(2), BF16(2), F64(8);
        public final int bytes;
        DType(int bytes) { this.bytes = bytes; }
    }

    /** The raw little-endian bytes of a storage, read when first asked for. */
    public interface Storage {
        /** The storage's bytes; a UserError when they cannot be read or are shorter than declared. */
        ByteBuffer bytes();
        /** Its length in elements. */
        long elements();
    }

    /** Contiguous strides of a shape (row-major); the callers have checked that its element count fits a long. */
    public static long[] contiguousStrides(long[] shape) {
        long[] s = new long[shape.length];
        long step = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            s[d] = step;
            step = Math.multiplyExact(step, shape[d]);
        }
        return s;
    }

    /** The element count; a UserError when a (hostile) shape's product does not fit a long, rather than a wrapped count. */
    public long elements() { return elements(null); }

    private long elements(String where) {
        long n = 1;
        try {
            for (long d : shape) n = Math.multiplyExact(n, d);
        } catch (ArithmeticException e) {
            throw new UserError((where == null ? "" : where + ": ") + "tensor '" + name + "' has shape " + shapeText() + ", more elements than a 64-bit count holds; expected a real tensor's shape");
        }
        return n;
    }

    /** The shape as PyTorch prints it: [2048, 64]. */
    public String shapeText() { return Arrays.toString(shape); }

    /** The elements in row-major order as floats (F16, BF16 and F64 converted; F64 rounded to the nearest float). */
    public float[] toFloats(String where) {
        long n = elements(where);
        if (n > Integer.MAX_VALUE - 16) throw new UserError(where + ": tensor '" + name + "' has " + n + " elements, too many to import");
        if (stride.length != shape.length) {
            throw new UserError(where + ": tensor '" + name + "' has shape " + shapeText() + " but strides " + Arrays.toString(stride));
        }
        for (long d : shape) if (d == 0) return new float[0];
        long last = offset;
        boolean wraps = false;
        for (int d = 0; d < shape.length; d++) {
            if (stride[d] < 0) throw new UserError(where + ": tensor '" + name + "' has a negative stride " + Arrays.toString(stride));
            try {
                last = Math.addExact(last, Math.multiplyExact(shape[d] - 1, stride[d]));
            } catch (ArithmeticException e) {
                wraps = true;
            }
        }
        if (offset < 0 || wraps || last >= storage.elements()) {
            throw new UserError(where + ": tensor '" + name + "' (shape " + shapeText() + ", strides " + Arrays.toString(stride) + ", offset "
                    + offset + ") reaches element " + (wraps ? "beyond 2^63" : String.valueOf(last)) + " of a storage of " + storage.elements());
        }
        ByteBuffer b = storage.bytes().duplicate().order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[(int) n];
        long[] index = new long[shape.length];
        for (int i = 0; i < out.length; i++) {
            long at = offset;
            for (int d = 0; d < shape.length; d++) at += index[d] * stride[d];
            int pos = Math.toIntExact(at * dtype.bytes);
            out[i] = switch (dtype) {
                case F32 -> b.getFloat(pos);
                case F16 -> Float.float16ToFloat(b.getShort(pos));
                case BF16 -> Float.intBitsToFloat((b.getShort(pos) & 0xFFFF) << 16);
                case F64 -> (float) b.getDouble(pos);
            };
            for (int d = shape.length - 1; d >= 0; d--) {
                if (++index[d] < shape[d]) break;
                index[d] = 0;
            }
        }
        return out;
    }
}
