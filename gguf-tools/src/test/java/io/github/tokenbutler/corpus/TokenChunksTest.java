package io.github.tokenbutler.corpus;

import io.github.tokenbutler.runtime.Llama3.UserError;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class TokenChunksTest {
    private final FakeTokenizer tok = new FakeTokenizer();

    @Test
    void streamSeparatesStoriesWithBos() {
        int[] s = TokenChunks.stream(List.of("ab", "c"), tok);
        assertArrayEquals(new int[]{'a' + 3, 'b' + 3, 1, 'c' + 3}, s);
    }

    @Test
    void chunksAreBosPrefixedNonOverlappingWindows() {
        int[] stream = new int[10];
        for (int i = 0; i < 10; i++) stream[i] = 100 + i;
        TokenChunks c = TokenChunks.of(stream, 1, 4, 0, "t");
        assertEquals(3, c.count());
        assertArrayEquals(new int[]{1, 100, 101, 102}, c.chunk(0));
        assertArrayEquals(new int[]{1, 103, 104, 105}, c.chunk(1));
        assertArrayEquals(new int[]{1, 106, 107, 108}, c.chunk(2));
        assertEquals(1, c.droppedTailTokens(), "token 109 is a partial window: not scored");
        assertEquals(9, c.scoredTokens());
        assertEquals(4, c.length());
    }

    @Test
    void maxChunksKeepsTheFirstChunks() {
        int[] stream = new int[100];
        TokenChunks c = TokenChunks.of(stream, 1, 10, 3, "t");
        assertEquals(3, c.count());
        assertEquals(27, c.scoredTokens());
    }

    @Test
    void tooShortTextIsAUserError() {
        UserError e = assertThrows(UserError.class, () -> TokenChunks.of(new int[5], 1, 512, 0, "--text tiny.txt"));
        assertTrue(e.getMessage().contains("too short") && e.getMessage().contains("5 tokens") && e.getMessage().contains("511"), e.getMessage());
    }

    @Test
    void contextBelowTwoIsAUserError() {
        assertThrows(UserError.class, () -> TokenChunks.of(new int[5], 1, 1, 0, "t"));
    }
}
