package io.github.tokenbutler.files;

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
import java.nio.file.StandardOpenOption;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Output files written whole or not at all: the bytes go to a temporary file beside the target, which is then
 * renamed over it. A crash, a full disk, Ctrl-C or a SIGTERM never leaves a half-written file that looks
 * complete, nor the temporary file itself: unfinished ones are deleted by a shutdown hook (the JVM runs it on
 * SIGINT, SIGTERM and SIGHUP; only SIGKILL gets past it).
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    private static final Set<Path> UNFINISHED = ConcurrentHashMap.newKeySet();
    private static volatile boolean hookInstalled;

    /**
     * Fails early (before a long evaluation) when an output cannot be written: its folder missing, the path a
     * folder, or the folder not writable (read-only file system, permissions), found by creating and deleting a
     * probe file there.
     * @param option the option naming the file, e.g. "--out"
     */
    public static void checkWritable(String command, String option, Path target) {
        Path parent = target.toAbsolutePath().getParent();
        String what = command + ": " + option + " " + target;
        if (parent == null || !Files.isDirectory(parent)) throw new UserError(what + ": folder " + parent + " does not exist");
        if (Files.isDirectory(target)) throw new UserError(what + " is a folder, expected a file name");
        Path probe = null;
        try {
            probe = Files.createTempFile(parent, ".write-probe.", ".tmp");
        } catch (IOException e) {
            throw UserError.io(what + ": cannot write in folder " + parent, e);
        } finally {
            if (probe != null) {
                try { Files.deleteIfExists(probe); } catch (IOException ignored) { /* it was writable: that is what we asked */ }
            }
        }
    }

    /** Refuses, before anything is written, an output larger than the free space where it goes. */
    public static void requireSpace(Path target, long bytes) {
        Path parent = target.toAbsolutePath().getParent();
        long free;
        try {
            free = Files.getFileStore(parent).getUsableSpace();
        } catch (IOException e) {
            throw UserError.io("cannot write " + target, e);
        }
        if (bytes > free) {
            throw new UserError("cannot write " + target + ": it needs " + bytes(bytes) + " and the disk holding " + parent
                    + " has " + bytes(free) + " free");
        }
    }

    /**
     * A new, empty temporary file beside target, deleted at exit unless {@link #commit} or {@link #discard}
     * came first. Its permissions are the folder's defaults (Files.createTempFile would make it owner-only, and
     * the output would keep that).
     */
    public static Path temporary(Path target) throws IOException {
        // A file written by a shutdown hook itself (train's checkpoint on Ctrl-C) is not registered: the JVM runs
        // the hooks concurrently, and ours would delete it while it is being written (and no hook can be added then).
        boolean register = !shuttingDown();
        if (register) installHook();
        Path abs = target.toAbsolutePath();
        Path temp = abs.resolveSibling("." + abs.getFileName() + "." + ProcessHandle.current().pid() + "." + System.nanoTime() + ".tmp");
        if (register) UNFINISHED.add(temp);
        try {
            Files.newByteChannel(temp, StandardOpenOption.WRITE, StandardOpenOption.CREATE_NEW).close();
        } catch (IOException e) {
            UNFINISHED.remove(temp);
            throw e;
        }
        return temp;
    }

    /** Renames a finished temporary file over target (atomically where the file system can). */
    public static void commit(Path temp, Path target) throws IOException {
        try {
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING);
        }
        UNFINISHED.remove(temp);
    }

    /** Deletes an unfinished temporary file (after a failure); never throws, the failure matters more. */
    public static void discard(Path temp) {
        if (temp == null) return;
        try {
            Files.deleteIfExists(temp);
        } catch (IOException ignored) {
            // The shutdown hook tries again.
            return;
        }
        UNFINISHED.remove(temp);
    }

    /** Whether the JVM is running its shutdown hooks (it refuses new ones then). */
    private static boolean shuttingDown() {
        Thread probe = new Thread(() -> {});
        try {
            Runtime.getRuntime().addShutdownHook(probe);
            Runtime.getRuntime().removeShutdownHook(probe);
            return false;
        } catch (IllegalStateException e) {
            return true;
        }
    }

    private static void installHook() {
        if (hookInstalled) return;
        synchronized (AtomicFiles.class) {
            if (hookInstalled) return;
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                for (Path p : UNFINISHED) {
                    try { Files.deleteIfExists(p); } catch (IOException ignored) { /* exiting: nothing else to do */ }
                }
            }, "delete unfinished outputs"));
            hookInstalled = true;
        }
    }

    public static void write(Path target, byte[] bytes) {
        Path temp = null;
        try {
            requireSpace(target, bytes.length);
            temp = temporary(target);
            Files.write(temp, bytes);
            commit(temp, target);
            temp = null;
        } catch (IOException e) {
            throw UserError.io("cannot write " + target, e);
        } finally {
            discard(temp);
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

    /** "28.4 TB", "1.2 GB", "512 bytes": decimal units, as df -H prints them. */
    static String bytes(long n) {
        if (n < 1000) return n + " bytes";
        String[] units = {"kB", "MB", "GB", "TB", "PB", "EB"};
        double v = n;
        int u = -1;
        while (v >= 1000 && u < units.length - 1) {
            v /= 1000;
            u++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }
}
