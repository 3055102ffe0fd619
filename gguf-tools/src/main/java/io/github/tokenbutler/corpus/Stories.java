package io.github.tokenbutler.corpus;

import io.github.tokenbutler.runtime.Llama3.UserError;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A text file of stories in the TinyStories export format: stories separated by lines holding only
 * {@code <|endoftext|>}. Paragraphs inside a story are separated by blank lines, so blank lines never
 * split stories. A file without any separator is one story.
 */
public final class Stories {
    /** The separator line of the TinyStories exports (shared/data/MANIFEST.md). */
    public static final String SEPARATOR = "<|endoftext|>";

    private Stories() {}

    /**
     * Reads the stories of a UTF-8 file: each story stripped of surrounding whitespace, empty ones dropped.
     * @param what names the option the file came from, for error messages (e.g. "--text")
     */
    public static List<String> read(Path file, String what) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw UserError.io(what + ": cannot read " + file, e);
        }
        String text;
        try {
            // Strict decoding: a Latin-1 or binary file would otherwise be scored as garbage without a word.
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new UserError(what + " file is not UTF-8 text: " + file);
        }
        return split(text);
    }

    /** Splits text into stories on separator lines; see the class comment. */
    public static List<String> split(String text) {
        if (!text.isEmpty() && text.charAt(0) == '\uFEFF') text = text.substring(1);
        List<String> stories = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        for (String line : text.split("\r?\n", -1)) {
            if (line.strip().equals(SEPARATOR)) {
                add(stories, current);
                current.setLength(0);
            } else {
                if (!current.isEmpty()) current.append('\n');
                current.append(line);
            }
        }
        add(stories, current);
        return stories;
    }

    private static void add(List<String> stories, StringBuilder story) {
        String s = story.toString().strip();
        if (!s.isEmpty()) stories.add(s);
    }

    /**
     * The sentences of a story, in order: text split after '.', '!' or '?' followed by whitespace, each
     * sentence with its whitespace collapsed to single spaces. Quoted speech is not treated specially; the
     * co-reference task filters sentences with quotes out (see {@link CorefCaseGenerator}).
     */
    public static List<String> sentences(String story) {
        List<String> out = new ArrayList<>();
        String flat = story.replaceAll("\\s+", " ").strip();
        int start = 0;
        for (int i = 0; i < flat.length(); i++) {
            char c = flat.charAt(i);
            boolean end = (c == '.' || c == '!' || c == '?') && (i + 1 == flat.length() || flat.charAt(i + 1) == ' ');
            if (end) {
                String s = flat.substring(start, i + 1).strip();
                if (!s.isEmpty()) out.add(s);
                start = i + 1;
            }
        }
        String rest = flat.substring(start).strip();
        if (!rest.isEmpty()) out.add(rest);
        return out;
    }
}
