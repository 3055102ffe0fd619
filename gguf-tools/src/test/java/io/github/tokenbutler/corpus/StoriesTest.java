package io.github.tokenbutler.corpus;

import io.github.tokenbutler.runtime.Llama3.UserError;
import io.github.tokenbutler.runtime.SharedData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class StoriesTest {
    @Test
    void splitsOnSeparatorLinesOnlyAndKeepsParagraphs() {
        String text = "First story.\n\nSecond paragraph.\n<|endoftext|>\n  Second story.  \n<|endoftext|>\n\n<|endoftext|>\nThird";
        List<String> stories = Stories.split(text);
        assertEquals(List.of("First story.\n\nSecond paragraph.", "Second story.", "Third"), stories);
    }

    @Test
    void textWithoutSeparatorIsOneStoryAndEmptyTextNone() {
        assertEquals(List.of("Just one."), Stories.split("\uFEFFJust one.\r\n"));
        assertEquals(List.of(), Stories.split(" \n<|endoftext|>\n\n"));
    }

    @Test
    void sentencesSplitAfterTerminalPunctuation() {
        assertEquals(List.of("Tom ran.", "Did he stop?", "No!", "He did not.", "The end"),
                Stories.sentences("Tom ran. Did he\nstop?  No! He did not.\n\nThe end"));
        assertEquals(List.of("It was 3.5 meters."), Stories.sentences("It was 3.5 meters."));
    }

    @Test
    void rejectsBinaryFiles(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("bad.txt");
        Files.write(f, new byte[]{'a', (byte) 0xC3, (byte) 0x28});
        UserError e = assertThrows(UserError.class, () -> Stories.read(f, "--text"));
        assertTrue(e.getMessage().contains("not UTF-8"), e.getMessage());
    }

    @Test
    void readsTheSharedValidationSet() {
        List<String> stories = Stories.read(SharedData.require("data/tinystories/valid.txt"), "--text");
        assertEquals(200, stories.size(), "valid.txt holds stories 501-700 of the export");
        assertTrue(stories.getFirst().startsWith("It was Sunday morning"));
        for (String s : stories) assertFalse(s.contains(Stories.SEPARATOR));
    }
}
