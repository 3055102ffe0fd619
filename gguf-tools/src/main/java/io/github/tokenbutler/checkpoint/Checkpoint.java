package io.github.tokenbutler.checkpoint;

import io.github.tokenbutler.runtime.Llama3.UserError;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The state dicts of a checkpoint file, in file order (a torch.save of one state dict gives one; the authors'
 * training code saves a list, one per producer layer), and the format it was read from.
 */
public record Checkpoint(Path path, String format, List<Map<String, CheckpointTensor>> stateDicts) {

    /** Reads a torch.save zip or a safetensors file, told apart by their first bytes. */
    public static Checkpoint read(Path path) {
        byte[] head = new byte[8];
        int got;
        try (InputStream in = Files.newInputStream(path)) {
            got = in.readNBytes(head, 0, head.length);
        } catch (IOException e) {
            throw new UserError("checkpoint " + path + ": cannot read it: " + e.getMessage());
        }
        if (got >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) return TorchZip.read(path);
        if (got == 8) {
            long headerLength = 0;
            for (int i = 7; i >= 0; i--) headerLength = headerLength << 8 | (head[i] & 0xFF);
            if (headerLength > 1 && headerLength < (1L << 31)) return Safetensors.read(path);
        }
        if (got >= 2 && (head[0] & 0xFF) == 0x80) {
            throw new UserError("checkpoint " + path + ": a bare pickle (torch.save with _use_new_zipfile_serialization=False, before "
                    + "PyTorch 1.6) is not supported; save it again with a current torch.save, or as safetensors");
        }
        throw new UserError("checkpoint " + path + ": neither a torch.save file (a zip, starting with PK) nor a safetensors file "
                + "(an 8-byte header length and a JSON header)");
    }
}
