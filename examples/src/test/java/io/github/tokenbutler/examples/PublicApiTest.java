package io.github.tokenbutler.examples;

import io.github.tokenbutler.runtime.Llama3;
import io.github.tokenbutler.runtime.Llama3.ChatMessage;
import io.github.tokenbutler.runtime.Llama3.Completion;
import io.github.tokenbutler.runtime.Llama3.GenerationParams;
import io.github.tokenbutler.runtime.Llama3.Generator;
import io.github.tokenbutler.runtime.Llama3.LoadOptions;
import io.github.tokenbutler.runtime.Llama3.UserError;
import io.github.tokenbutler.runtime.SharedData;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The Java API as a user's program sees it (this package is not the runtime's: only public types and members are
 * reachable), on stories260K, dense and with the TokenButler plugin's hook. The expected text is what the launcher
 * prints for the same model, prompt, seed and temperature: {@code ./tokenbutler run} is {@link Llama3#run} with the
 * plugin on the class path, run here in this JVM with the options the launcher's user would type.
 */
class PublicApiTest {
    static final String PROMPT = "Once upon a time";
    static final int CONTEXT = 512, TOKENS = 48;

    /** One way to open the model: its name in the test report, the API's attention and options, the CLI's flags. */
    record Attention(String name, String hook, Map<String, String> options, List<String> cliFlags) {
        @Override public String toString() { return name; }
    }

    static Stream<Attention> attentions() {
        String v1 = SharedData.testModel("stories260K.butler.gguf").toString();
        String v2 = SharedData.testModel("stories260K.butler-v2.gguf").toString();
        return Stream.of(
                new Attention("dense", "dense", Map.of(), List.of()),
                new Attention("tokenbutler v1, sparsity 0.5", "tokenbutler", Map.of("predictor", v1, "sparsity", "0.5"),
                        List.of("--attention", "tokenbutler", "--attention-opt", "predictor=" + v1, "--attention-opt", "sparsity=0.5")),
                new Attention("tokenbutler v2, sparsity 0.75", "tokenbutler", Map.of("predictor", v2, "sparsity", "0.75"),
                        List.of("--attention", "tokenbutler", "--attention-opt", "predictor=" + v2, "--attention-opt", "sparsity=0.75")));
    }

    static Path model() { return SharedData.require("models/stories260K/stories260K.gguf"); }

    /** What the launcher prints on stdout for these arguments (and stdin), with its exit code checked. */
    static String launcher(List<String> args, String stdin) {
        List<String> all = new ArrayList<>(List.of("--model", model().toString(), "--context", Integer.toString(CONTEXT)));
        all.addAll(args);
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int code = Llama3.run(all.toArray(String[]::new), new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)),
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(0, code, () -> "tokenbutler run " + String.join(" ", all) + " failed: " + err.toString(StandardCharsets.UTF_8));
        return out.toString(StandardCharsets.UTF_8);
    }

    static List<String> sampling(float temperature, long seed) {
        return List.of("-n", Integer.toString(TOKENS), "--temp", Float.toString(temperature), "--top-p", "0.95", "--seed", Long.toString(seed));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("attentions")
    void generateGivesTheLaunchersTextGreedyAndSampled(Attention a) {
        try (Generator g = Generator.open(model(), a.hook(), a.options(), new LoadOptions(CONTEXT))) {
            StringBuilder streamed = new StringBuilder();
            Completion greedy = g.generate(PROMPT, GenerationParams.greedy(TOKENS), streamed::append);
            assertEquals(streamed.toString(), greedy.text(), "the callback's pieces make up the text");
            List<String> args = new ArrayList<>(List.of("--prompt", PROMPT));
            args.addAll(sampling(0f, 0));
            args.addAll(a.cliFlags());
            assertEquals(launcher(args, ""), greedy.text() + "\n", "greedy: ./tokenbutler run --temp 0 prints the same text (and a line end)");
            assertEquals(TOKENS, greedy.generatedTokens());
            assertEquals("length", greedy.finish());

            Completion sampled = g.generate(PROMPT, GenerationParams.greedy(TOKENS).withSampling(0.8f, 0.95f, 42), s -> {});
            args = new ArrayList<>(List.of("--prompt", PROMPT));
            args.addAll(sampling(0.8f, 42));
            args.addAll(a.cliFlags());
            assertEquals(launcher(args, ""), sampled.text() + "\n", "temperature 0.8, top-p 0.95, seed 42: the launcher's text");
            assertNotEquals(greedy.text(), sampled.text(), "sampling changed the text (else this compares nothing new)");
            assertTrue(greedy.decodeTokensPerSecond() > 0 && greedy.prefillTokensPerSecond() > 0);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("attentions")
    void chatGivesTheLaunchersReply(Attention a) {
        try (Generator g = Generator.open(model(), a.hook(), a.options(), new LoadOptions(CONTEXT))) {
            assertFalse(g.hasChatTemplate(), "stories260K has no chat template: chat continues the message");
            Completion reply = g.chat(List.of(new ChatMessage("user", PROMPT)), GenerationParams.greedy(TOKENS).withSampling(0.8f, 0.95f, 7), s -> {});
            List<String> args = new ArrayList<>(List.of("--chat"));
            args.addAll(sampling(0.8f, 7));
            args.addAll(a.cliFlags());
            assertEquals(launcher(args, PROMPT + "\n"), reply.text() + "\n", "./tokenbutler run --chat with the message on stdin");
        }
    }

    @Test
    void theTokenButlerHookChangesTheText() {
        // Without this the comparisons above could pass with the hook ignored: the sparse text differs from dense.
        String v1 = SharedData.testModel("stories260K.butler.gguf").toString();
        GenerationParams p = GenerationParams.greedy(200);
        String dense, sparse;
        try (Generator g = Generator.open(model(), "dense", Map.of(), new LoadOptions(CONTEXT))) {
            dense = g.generate(PROMPT, p, s -> {}).text();
        }
        try (Generator g = Generator.open(model(), "tokenbutler", Map.of("predictor", v1, "sparsity", "0.9"), new LoadOptions(CONTEXT))) {
            sparse = g.generate(PROMPT, p, s -> {}).text();
        }
        assertNotEquals(dense, sparse);
    }

    @Test
    void badInputIsAUserErrorInOneLine() {
        UserError unknown = assertThrows(UserError.class, () -> Generator.open(model(), "no-such-attention", Map.of(), LoadOptions.defaults()));
        assertTrue(unknown.getMessage().startsWith("unknown attention 'no-such-attention' (available: dense"), unknown.getMessage());
        assertTrue(unknown.getMessage().contains("tokenbutler"), "the plugin's hooks are listed: " + unknown.getMessage());
        UserError missing = assertThrows(UserError.class, () -> Generator.open(Path.of("no-such-model.gguf")));
        assertEquals("model file not found: no-such-model.gguf", missing.getMessage());
        assertThrows(UserError.class, () -> GenerationParams.greedy(0));
    }
}
