package io.github.tokenbutler.eval;

import io.github.tokenbutler.runtime.Llama3.UserError;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Output files written whole or not at all: the bytes go to a temporary file beside the target, which is
 * then renamed over it. A crash or a full disk never leaves a half-written CSV that looks complete.
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    /**
     * Fails early (before a long evaluation) when an output's folder does not exist or the path is a folder.
     * @param option the option naming the file, e.g. "--out"
     */
    public static void checkWritable(String command, String option, Path target) {
        Path parent = target.toAbsolutePath().getParent();
        if (parent == null || !Files.isDirectory(parent)) {
            throw new UserError(command + ": " + option + " " + target + ": folder " + parent + " does not exist");
        }
        if (Files.isDirectory(target)) throw new UserError(command + ": " + option + " " + target + " is a folder, expected a file name");
    }

    public static void write(Path target, byte[] bytes) {
        Path parent = target.toAbsolutePath().getParent();
        Path tmp = null;
        try {
            tmp = Files.createTempFile(parent, "." + target.getFileName() + ".", ".tmp");
            Files.write(tmp, bytes);
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
        } catch (IOException e) {
            throw new UserError("cannot write " + target + ": " + e.getMessage(), e);
        } finally {
            if (tmp != null) {
                try { Files.deleteIfExists(tmp); } catch (IOException ignored) { /* the original error matters more */ }
            }
        }
    }

    public static void writeText(Path target, String text) {
        write(target, text.getBytes(StandardCharsets.UTF_8));
    }

    public static void writePng(Path target, BufferedImage image) {
        write(target, png(image));
    }

    /** PNG bytes of an image (ImageIO's encoder is deterministic for a given image). */
    public static byte[] png(BufferedImage image) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try {
            if (!ImageIO.write(image, "png", bytes)) throw new IllegalStateException("no PNG writer in this JDK");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }
}
