package io.github.tokenbutler.train;

import io.github.tokenbutler.files.AtomicFiles;
import io.github.tokenbutler.plugin.predictor.PredictorConfig;
import io.github.tokenbutler.plugin.predictor.RevisedPredictorConfig;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Everything a run needs to continue bit for bit: the predictor shape, the training options, the number of
 * steps done (which fixes the data position, see {@link TrainingData}), the weights and both Adam moments in
 * float64, and the model the run belongs to (its vocabulary fingerprint and name). The file is written to a
 * temporary file and renamed over the target, so an interrupted write leaves the previous checkpoint intact.
 *
 * <p>Format (big-endian, java.io.DataOutput): magic "TBTRAIN2"; model fingerprint and name (UTF);
 * config: 11 ints, 2 floats; options: seqLen, steps, batch (int), lr (double), warmup (int), weight decay,
 * clip (double), seed (long), loss (UTF, {@link TrainingLoss#id}); step (int); parameter count (int); params,
 * m, v (doubles). "TBTRAIN1" files (before the loss was a choice) are read as loss "mse", the only one then.
 */
public record TrainingCheckpoint(PredictorConfig config, RevisedPredictorConfig revised, String modelName, TrainingOptions options, int step,
                                 double[] params, double[] m, double[] v) {
    private static final String MAGIC = "TBTRAIN2", MAGIC_BEFORE_LOSS = "TBTRAIN1", MAGIC_REVISED = "TBTRAIN3";

    /** A v1 predictor's checkpoint. */
    public TrainingCheckpoint(PredictorConfig config, String modelName, TrainingOptions options, int step, double[] params, double[] m, double[] v) {
        this(config, null, modelName, options, step, params, m, v);
    }

    /** A v2 (revised) predictor's checkpoint ("TBTRAIN3": its config is 10 ints, the RoPE base and the LayerNorm epsilon, the rest as v1's). */
    public TrainingCheckpoint(RevisedPredictorConfig revised, String modelName, TrainingOptions options, int step, double[] params, double[] m, double[] v) {
        this(null, revised, modelName, options, step, params, m, v);
    }

    public TrainingCheckpoint {
        if ((config == null) == (revised == null)) throw new IllegalArgumentException("a checkpoint holds exactly one predictor config");
    }

    /** The base model's fingerprint the predictor is trained for. */
    public String fingerprint() { return config != null ? config.fingerprint() : revised.fingerprint(); }

    /** The base-model shape in words. */
    public String modelShape() { return config != null ? config.modelShape() : revised.modelShape(); }

    /** Parameters of the predictor shape. */
    public long parameterCount() { return config != null ? config.parameterCount() : revised.parameterCount(); }

    public void write(Path target) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(24 * params.length + 512);
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeBytes(config != null ? MAGIC : MAGIC_REVISED);
            out.writeUTF(fingerprint());
            out.writeUTF(modelName);
            if (config != null) {
                PredictorConfig c = config;
                for (int x : new int[]{c.modelDim(), c.modelLayers(), c.modelHeads(), c.modelKvHeads(), c.modelHeadSize(), c.modelVocab(),
                        c.projDim(), c.attnHeads(), c.ffnDim(), c.importanceHidden(), c.dPrime()}) out.writeInt(x);
                out.writeFloat(c.ropeTheta());
                out.writeFloat(c.layerNormEps());
            } else {
                RevisedPredictorConfig c = revised;
                for (int x : new int[]{c.modelDim(), c.modelLayers(), c.modelHeads(), c.modelKvHeads(), c.modelHeadSize(), c.modelVocab(),
                        c.dPrime(), c.importanceHidden(), c.producerSpacing(), c.rotary() ? 1 : 0}) out.writeInt(x);
                out.writeFloat(c.ropeTheta());
                out.writeFloat(c.layerNormEps());
            }
            TrainingOptions o = options;
            out.writeInt(o.seqLen());
            out.writeInt(o.steps());
            out.writeInt(o.batch());
            out.writeDouble(o.lr());
            out.writeInt(o.warmup());
            out.writeDouble(o.weightDecay());
            out.writeDouble(o.clip());
            out.writeLong(o.seed());
            out.writeUTF(o.loss().id);
            out.writeInt(step);
            out.writeInt(params.length);
            for (double[] a : new double[][]{params, m, v}) for (double d : a) out.writeDouble(d);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        AtomicFiles.write(target, bytes.toByteArray());
    }

    public static TrainingCheckpoint read(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw UserError.io("train: cannot read --resume " + file, e);
        }
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
            byte[] magic = new byte[MAGIC.length()];
            in.readFully(magic);
            String magicText = new String(magic, java.nio.charset.StandardCharsets.ISO_8859_1);
            boolean beforeLoss = MAGIC_BEFORE_LOSS.equals(magicText), isRevised = MAGIC_REVISED.equals(magicText);
            if (!MAGIC.equals(magicText) && !beforeLoss && !isRevised) {
                throw new UserError("train: --resume " + file + " is not a training checkpoint (expected a file written by train --checkpoint)");
            }
            String fingerprint = in.readUTF(), modelName = in.readUTF();
            PredictorConfig c = null;
            RevisedPredictorConfig rc = null;
            if (isRevised) {
                int[] x = new int[10];
                for (int i = 0; i < x.length; i++) x[i] = in.readInt();
                float rope = in.readFloat();
                rc = new RevisedPredictorConfig(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8], x[9] == 1, rope, in.readFloat(), fingerprint)
                        .validate("checkpoint " + file);
            } else {
                int[] x = new int[11];
                for (int i = 0; i < x.length; i++) x[i] = in.readInt();
                float rope = in.readFloat(), eps = in.readFloat();
                c = new PredictorConfig(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8], x[9], x[10], rope, eps, fingerprint)
                        .validate("checkpoint " + file);
            }
            long parameters = c != null ? c.parameterCount() : rc.parameterCount();
            int seqLen = in.readInt(), steps = in.readInt(), batch = in.readInt();
            double lr = in.readDouble();
            int warmup = in.readInt();
            double weightDecay = in.readDouble(), clip = in.readDouble();
            long seed = in.readLong();
            TrainingLoss loss = beforeLoss ? TrainingLoss.MSE : TrainingLoss.parse("checkpoint " + file + " loss", in.readUTF());
            TrainingOptions o = new TrainingOptions(seqLen, steps, batch, lr, warmup, weightDecay, clip, seed, loss);
            int step = in.readInt(), n = in.readInt();
            if (n != parameters) throw new UserError("train: checkpoint " + file + " holds " + n + " parameters, its predictor shape needs " + parameters);
            double[][] arrays = new double[3][n];
            for (double[] a : arrays) for (int i = 0; i < n; i++) a[i] = in.readDouble();
            if (in.available() != 0) throw new UserError("train: checkpoint " + file + " has " + in.available() + " unexpected trailing bytes");
            return new TrainingCheckpoint(c, rc, modelName, o, step, arrays[0], arrays[1], arrays[2]);
        } catch (java.io.EOFException e) {
            throw new UserError("train: checkpoint " + file + " is truncated");
        } catch (IOException e) {
            throw UserError.io("train: cannot read checkpoint " + file, e);
        }
    }
}
