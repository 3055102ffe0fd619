package io.github.tokenbutler.plugin.opencl;

import org.junit.jupiter.api.Test;

import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Transfers of {@link ClBuffer} on every OpenCL device: non-blocking writes whose staging memory is reused
 * (many more bytes written than the staging area holds, with no read in between), and the rectangular write
 * that puts one row per (layer, head) group at the group's stride.
 */
class OpenClBufferTest {
    @Test void nonBlockingWritesSurviveTheReuseOfTheirStagingMemory() {
        OpenClBackends.requireOpenCl();
        for (ClDevice device : OpenClBackends.devices()) {
            try (ClContext ctx = new ClContext(device); ClBuffer b = ctx.buffer(4L << 20, "test buffer")) {
                int pieces = 4000, piece = 1000;   // 16 MB written into a 4 MB buffer; the staging area starts at 1 MiB
                int floats = (int) (b.bytes() / 4);
                float[] expected = new float[floats];
                b.write(expected, 0, floats, 0);   // a new buffer holds whatever the device had there
                float[] src = new float[piece];
                for (int i = 0; i < pieces; i++) {
                    int at = (int) ((long) i * 7919 % (floats - piece));
                    for (int j = 0; j < piece; j++) src[j] = i * 1e-3f + j;
                    b.write(src, 0, piece, at);   // src is reused at once: the write must have copied it
                    System.arraycopy(src, 0, expected, at, piece);
                }
                float[] back = new float[floats];
                b.read(0, back, 0, floats);
                for (int i = 0; i < floats; i += 4096) {
                    int n = Math.min(4096, floats - i);
                    float[] e = new float[n], a = new float[n];
                    System.arraycopy(expected, i, e, 0, n);
                    System.arraycopy(back, i, a, 0, n);
                    assertArrayEquals(e, a, device.name() + ": floats " + i + ".." + (i + n));
                }
            }
        }
    }

    /**
     * A held queue (ClContext.hold) runs what was enqueued when a blocking call comes: a read, or finish, and also
     * when the staging area fills (its finish); a second hold while held is a no-op.
     */
    @Test void aHeldQueueRunsAtTheNextBlockingCall() {
        OpenClBackends.requireOpenCl();
        for (ClDevice device : OpenClBackends.devices()) {
            try (ClContext ctx = new ClContext(device); ClBuffer b = ctx.buffer(1L << 20, "held")) {
                int floats = (int) (b.bytes() / 4);
                float[] values = new float[floats], back = new float[floats];
                for (int round = 0; round < 3; round++) {
                    for (int i = 0; i < floats; i++) values[i] = round * 10 + i;
                    ctx.hold();
                    ctx.hold();
                    b.write(values, 0, floats / 2, 0);
                    // Round 1 writes more than the staging area holds while held: the finish that makes room opens the queue.
                    if (round == 1) for (int k = 0; k < 3; k++) b.write(values, floats / 2, floats / 2, floats / 2);
                    else b.write(values, floats / 2, floats / 2, floats / 2);
                    if (round == 2) ctx.finish();
                    b.read(0, back, 0, floats);
                    assertArrayEquals(values, back, device.name() + ", round " + round);
                }
            }
        }
    }

    @Test void rowsLandAtTheirPitch() {
        OpenClBackends.requireOpenCl();
        for (ClDevice device : OpenClBackends.devices()) {
            int rows = 37, pitchFloats = 1000, offsetFloats = 2500, rowFloats = 48;   // offset beyond one pitch
            try (ClContext ctx = new ClContext(device); ClBuffer b = ctx.buffer((long) (offsetFloats + rows * pitchFloats) * 4, "rows")) {
                float[] zeros = new float[offsetFloats + rows * pitchFloats];
                b.write(zeros, 0, zeros.length, 0);
                b.writeRows(rows, rowFloats * 4L, offsetFloats * 4L, pitchFloats * 4L, (r, seg) -> {
                    for (int j = 0; j < rowFloats; j++) seg.setAtIndex(ValueLayout.JAVA_FLOAT, j, r * 1000 + j);
                });
                float[] back = new float[zeros.length];
                b.read(0, back, 0, back.length);
                for (int i = 0; i < back.length; i++) {
                    int rel = i - offsetFloats, r = Math.floorDiv(rel, pitchFloats), j = Math.floorMod(rel, pitchFloats);
                    float want = rel >= 0 && r < rows && j < rowFloats ? r * 1000 + j : 0f;
                    assertEquals(want, back[i], device.name() + ": float " + i);
                }
            }
        }
    }
}
