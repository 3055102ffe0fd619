package io.github.tokenbutler.tools;

import io.github.tokenbutler.gguf.GgufWriter;
import io.github.tokenbutler.runtime.Llama3;
import io.github.tokenbutler.runtime.Llama3.ChatFormat;
import io.github.tokenbutler.runtime.Llama3.ChatMessage;
import io.github.tokenbutler.runtime.Llama3.ChatTemplate;
import io.github.tokenbutler.runtime.Llama3.Completion;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.GGUFValueType;
import io.github.tokenbutler.runtime.Llama3.GenerationParams;
import io.github.tokenbutler.runtime.Llama3.Generator;
import io.github.tokenbutler.runtime.Llama3.LoadOptions;
import io.github.tokenbutler.runtime.SharedData;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static io.github.tokenbutler.tools.CliErrorsTest.assertUserError;
import static io.github.tokenbutler.tools.CliErrorsTest.run;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Every chat template family end to end: `synth --vocab` makes a random tiny model with a real vocabulary (Meta's
 * Llama 3 tokenizer through convert-tiktoken; llama.cpp's Llama 2 SentencePiece vocabulary, with ChatML's, Gemma's
 * or Phi-3's special tokens appended as those models add them) and a family's Jinja template
 * (`--chat-template-text`); the runtime recognises the family from the file, and the prompt that reaches the model
 * (the Java API's chat, the CLI's --prompt and its chat turn by turn, printed by --verbose-prompt) is the family's
 * rendering, whose ids ChatTemplateTest (vendor) checks against each documented format. The Llama 3 format's ids
 * are checked here, on the only Llama 3 vocabulary there is (convert-tiktoken's).
 *
 * <p>The templates below are shortened from each family's Hugging Face chat template (tokenizer_config.json of the
 * model named), keeping the parts that say what it writes.
 */
class ChatTemplateEndToEndTest {
    @TempDir static Path dir;
    static Path llama3Vocab, spmVocab, chatmlVocab, gemmaVocab, phi3Vocab;

    static final List<ChatMessage> CHAT = List.of(new ChatMessage("system", "Be brief."), new ChatMessage("user", "Hi"),
            new ChatMessage("assistant", "Hello!"), new ChatMessage("user", "Bye"));

    // meta-llama/Meta-Llama-3-8B-Instruct
    static final String LLAMA3 = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
            + "message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
            + "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
            + "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
    // meta-llama/Llama-2-7b-chat-hf
    static final String LLAMA2 = "{% for message in loop_messages %}{% if loop.index0 == 0 and system_message != false %}{% set content = "
            + "'<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
            + "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
            + "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
    // mistralai/Mistral-7B-Instruct-v0.2
    static final String MISTRAL = "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
            + "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
            + "{% endif %}{% endfor %}";
    // teknium/OpenHermes-2.5-Mistral-7B
    static final String CHATML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
            + "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    // HuggingFaceH4/zephyr-7b-beta
    static final String ZEPHYR = "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + message['content'] + "
            + "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\\n' + message['content'] + eos_token }}\n"
            + "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n{% endif %}\n"
            + "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";
    // google/gemma-7b-it
    static final String GEMMA = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}"
            + "{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + "
            + "'<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}";
    // microsoft/Phi-3-mini-4k-instruct
    static final String PHI3 = "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\\n' + message['content'] + "
            + "'<|end|>\\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}"
            + "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}"
            + "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}";
    // lmsys/vicuna-7b-v1.5 style: plain-text roles, no family here
    static final String VICUNA = "{% for message in messages %}{% if message['role'] == 'user' %}{{ 'USER: ' + message['content'] + ' ' }}"
            + "{% else %}{{ 'ASSISTANT: ' + message['content'] + eos_token }}{% endif %}{% endfor %}";

    @BeforeAll
    static void vocabularies() {
        llama3Vocab = dir.resolve("llama3-vocab.gguf");
        ConvertTiktokenCommand.convert(SharedData.require("models/tokenizer-tests/llama3-bpe/llama3-tokenizer.model"), llama3Vocab, "llama3");
        spmVocab = SharedData.require("models/tokenizer-tests/llama-spm/ggml-vocab-llama-spm.gguf");
        chatmlVocab = extended("chatml-vocab.gguf", -1, "<|im_end|>", "<|im_start|>");
        gemmaVocab = extended("gemma-vocab.gguf", -1, "<start_of_turn>", "<end_of_turn>");
        phi3Vocab = extended("phi3-vocab.gguf", 32000, "<|endoftext|>", "<|assistant|>", "<|placeholder1|>", "<|placeholder2|>",
                "<|placeholder3|>", "<|placeholder4|>", "<|system|>", "<|end|>", "<|placeholder5|>", "<|placeholder6|>", "<|user|>");
    }

    /** The Llama 2 vocabulary with control tokens appended (ids 32000, ...), and another EOS when eos >= 0. */
    static Path extended(String name, int eos, String... added) {
        Path out = dir.resolve(name);
        try (GGUF src = GGUF.read(spmVocab)) {
            String[] tokens = src.get("tokenizer.ggml.tokens");
            float[] scores = src.get("tokenizer.ggml.scores");
            int[] types = src.get("tokenizer.ggml.token_type");
            int n = tokens.length;
            String[] t = Arrays.copyOf(tokens, n + added.length);
            int[] ty = Arrays.copyOf(types, t.length);
            for (int i = 0; i < added.length; i++) {
                t[n + i] = added[i];
                ty[n + i] = 3; // control
            }
            GgufWriter w = new GgufWriter().copyMetadata(src, k -> k.startsWith("tokenizer."));
            w.putArray("tokenizer.ggml.tokens", GGUFValueType.STRING, t);
            w.putArray("tokenizer.ggml.scores", GGUFValueType.FLOAT32, Arrays.copyOf(scores, t.length));
            w.putArray("tokenizer.ggml.token_type", GGUFValueType.INT32, ty);
            if (eos >= 0) w.putU32("tokenizer.ggml.eos_token_id", eos);
            w.write(out);
        }
        return out;
    }

    /** A random tiny model (tied embeddings, Q8_0) with the vocabulary and, unless null, the template. */
    static Path synth(String name, Path vocab, String template) {
        Path out = dir.resolve(name + ".gguf");
        List<String> argv = new ArrayList<>(List.of("synth", "--preset", "tiny-mha", "--type", "Q8_0", "--vocab", vocab.toString()));
        if (template != null) argv.addAll(List.of("--chat-template-text", template));
        argv.add(out.toString());
        CliErrorsTest.Result r = run(argv.toArray(new String[0]));
        assertEquals(0, r.code(), r.err());
        return out;
    }

    record Cli(int code, String out, String err) {
        /** The token ids of every prompt --verbose-prompt printed, in order. */
        List<int[]> prompts() {
            List<int[]> all = new ArrayList<>();
            List<Integer> current = null;
            for (String line : err.lines().toList()) {
                // In chat the line starts after the "> " printed before stdin was read.
                if (line.replaceFirst("^(> )+", "").startsWith("prompt: ")) {
                    current = new ArrayList<>();
                    all.add(null);
                } else if (current != null && line.matches(" *\\d+ -> .*")) {
                    current.add(Integer.parseInt(line.substring(0, line.indexOf(" -> ")).strip()));
                    all.set(all.size() - 1, current.stream().mapToInt(Integer::intValue).toArray());
                }
            }
            return all;
        }
    }

    static Cli cli(String stdin, String... argv) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int code = Llama3.run(argv, new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)),
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Cli(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /**
     * The model's family is found in the file; the Java API's chat runs the family's rendering (the ids that
     * ChatTemplateTest checks), and the CLI's --prompt and its two-turn chat feed the model the same ids.
     */
    static void endToEnd(Path model, ChatTemplate family, ChatTemplate chosen) {
        ChatFormat format;
        try (Generator g = Generator.open(model, "dense", Map.of(), new LoadOptions(256), chosen)) {
            assertEquals(family, g.chatTemplate());
            assertNull(g.chatTemplateNote(), "the vocabulary has the family's tokens");
            format = new ChatFormat(g.model().tokenizer(), family);
            assertArrayEquals(format.prompt(CHAT), g.chatPromptIds(CHAT));
            Completion c = g.chat(CHAT, GenerationParams.greedy(3), s -> {});
            assertEquals(format.prompt(CHAT).length, c.promptTokens());
        }
        List<String> common = new ArrayList<>(List.of("--model", model.toString(), "--temperature", "0", "-n", "2", "--context", "256", "--verbose-prompt"));
        if (chosen != null) common.addAll(List.of("--chat-template", chosen.id()));
        List<String> single = new ArrayList<>(common);
        single.addAll(List.of("--system-prompt", "Be brief.", "--prompt", "Hi"));
        Cli one = cli("", single.toArray(new String[0]));
        assertEquals(0, one.code(), one.err());
        assertEquals(1, one.prompts().size(), one.err());
        assertArrayEquals(format.prompt(CHAT.subList(0, 2)), one.prompts().getFirst(), one.err());

        List<String> chat = new ArrayList<>(common);
        chat.addAll(List.of("--system-prompt", "Be brief.", "--chat"));
        Cli two = cli("Hi\nBye\n", chat.toArray(new String[0]));
        assertEquals(0, two.code(), two.err());
        List<int[]> turns = two.prompts();
        assertEquals(2, turns.size(), two.err());
        assertArrayEquals(format.prompt(CHAT.subList(0, 2)), turns.get(0), "first turn: " + two.err());
        // The second turn: the reply's last token (not run yet), then the end of the reply's turn and the next user turn,
        // whole after a reply cut at -n 2, or after the stop token when the random model sampled one.
        int[] second = Arrays.copyOfRange(turns.get(1), 1, turns.get(1).length);
        int[] cut = format.continuation(CHAT.subList(3, 4), false), stopped = format.continuation(CHAT.subList(3, 4), true);
        assertTrue(Arrays.equals(cut, second) || Arrays.equals(stopped, second),
                "second turn " + Arrays.toString(second) + " is neither " + Arrays.toString(cut) + " nor " + Arrays.toString(stopped));
    }

    @Test
    void llama3() {
        Path model = synth("llama3", llama3Vocab, LLAMA3);
        endToEnd(model, ChatTemplate.LLAMA3, null);
        // Meta's Llama 3 model card: <|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>
        // <|start_header_id|>user<|end_header_id|>\n\n{user}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n...
        // Ids: the special tokens of Llama 3's tokenizer.py (128000 + n), the text from Meta's rank file.
        try (Generator g = Generator.open(model, "dense", Map.of(), new LoadOptions(256))) {
            String documented = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                    + "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
                    + "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
            int[] expected = {
                    128000 /* <|begin_of_text|> */, 128006 /* <|start_header_id|> */, 9125 /* system */, 128007 /* <|end_header_id|> */,
                    271 /* \n\n */, 3513 /* Be */, 10015 /* ␣brief */, 13 /* . */, 128009 /* <|eot_id|> */,
                    128006, 882 /* user */, 128007, 271, 13347 /* Hi */, 128009,
                    128006, 78191 /* assistant */, 128007, 271, 9906 /* Hello */, 0 /* ! */, 128009,
                    128006, 882 /* user */, 128007, 271, 1383 /* By */, 68 /* e */, 128009,
                    128006, 78191 /* assistant */, 128007, 271};
            assertArrayEquals(expected, g.chatPromptIds(CHAT), () -> Arrays.toString(g.chatPromptIds(CHAT)));
            assertArrayEquals(expected, g.model().tokenizer().encodeWithSpecialTokens(documented));
        }
    }

    @Test
    void llama3WithoutATemplateKeyIsLlama3ByItsTokensAsBefore() {
        // The CLI paths are the llama3 test's; here only what the family is found from.
        try (Generator g = Generator.open(synth("llama3-no-key", llama3Vocab, null), "dense", Map.of(), new LoadOptions(256))) {
            assertEquals(ChatTemplate.LLAMA3, g.chatTemplate());
            assertNull(g.chatTemplateNote());
            assertArrayEquals(new ChatFormat(g.model().tokenizer(), ChatTemplate.LLAMA3).prompt(CHAT), g.chatPromptIds(CHAT));
        }
    }

    @Test
    void llama2() { endToEnd(synth("llama2", spmVocab, LLAMA2), ChatTemplate.LLAMA2, null); }

    @Test
    void mistral() { endToEnd(synth("mistral", spmVocab, MISTRAL), ChatTemplate.MISTRAL, null); }

    @Test
    void zephyr() { endToEnd(synth("zephyr", spmVocab, ZEPHYR), ChatTemplate.ZEPHYR, null); }

    @Test
    void chatml() { endToEnd(synth("chatml", chatmlVocab, CHATML), ChatTemplate.CHATML, null); }

    @Test
    void gemma() { endToEnd(synth("gemma", gemmaVocab, GEMMA), ChatTemplate.GEMMA, null); }

    @Test
    void phi3() { endToEnd(synth("phi3", phi3Vocab, PHI3), ChatTemplate.PHI3, null); }

    @Test
    void chatTemplateOverridesTheFilesTemplate() {
        endToEnd(synth("vicuna-as-llama2", spmVocab, VICUNA), ChatTemplate.LLAMA2, ChatTemplate.LLAMA2);
    }

    @Test
    void anUnknownTemplateIsSaidOnceAndTheChatContinuesThePlainText() {
        Path model = synth("vicuna", spmVocab, VICUNA);
        // The template's first 64 characters, quoted.
        String note = "note: the model's chat template (tokenizer.chat_template '{% for message in messages %}{% if message['role'] == 'user' %}{'"
                + "... (189 characters)) is none of the known families";
        try (Generator g = Generator.open(model, "dense", Map.of(), new LoadOptions(256))) {
            assertEquals(ChatTemplate.NONE, g.chatTemplate());
            assertFalse(g.hasChatTemplate());
            assertTrue(("note: " + g.chatTemplateNote()).startsWith(note), g.chatTemplateNote());
            assertTrue(g.chatTemplateNote().endsWith("is none of the known families (llama3, llama2, mistral, chatml, zephyr, gemma, phi3): "
                    + "chat continues the messages' text; --chat-template NAME picks a family"), g.chatTemplateNote());
            assertArrayEquals(g.model().tokenizer().encodeWithSpecialTokens("<s>Hi\nBye"),
                    g.chatPromptIds(List.of(new ChatMessage("user", "Hi"), new ChatMessage("user", "Bye"))));
        }
        Cli chat = cli("Hi\n", "--model", model.toString(), "-n", "2", "--chat", "--verbose-prompt");
        assertEquals(0, chat.code(), chat.err());
        assertEquals(1, chat.err().lines().filter(l -> l.startsWith("note: the model's chat template")).count(), chat.err());
        assertFalse(chat.err().contains("this model has no chat template"), "one message, not two: " + chat.err());
        Cli single = cli("", "--model", model.toString(), "-n", "2", "--prompt", "Hi", "--verbose-prompt");
        assertEquals(0, single.code(), single.err());
        assertTrue(single.err().lines().anyMatch(l -> l.startsWith(note)), single.err());
        assertArrayEquals(new int[] {1, 6324 /* ▁Hi */}, single.prompts().getFirst());
        assertEquals(2, cli("", "--model", model.toString(), "--prompt", "Hi", "--system-prompt", "Be brief.").code(),
                "a system prompt needs a chat template");
    }

    @Test
    void anUnknownChatTemplateNameIsRefusedWithTheNames() {
        Cli r = cli("", "--model", "m.gguf", "--chat-template", "alpaca");
        assertEquals(2, r.code());
        assertEquals("error: option --chat-template: unknown chat template 'alpaca'; known: llama3, llama2, mistral, chatml, zephyr, gemma, phi3, none",
                r.err().strip());
        assertUserError(run("serve", "--model", spmVocab.toString(), "--chat-template", "alpaca"),
                "serve: option --chat-template: unknown chat template 'alpaca'; known: llama3, llama2, mistral, chatml, zephyr, gemma, phi3, none");
    }

    @Test
    void synthVocabCopiesTheTokenizerAndSizesTheModel() {
        Path model = synth("copied", phi3Vocab, null);
        try (GGUF m = GGUF.read(model); GGUF v = GGUF.read(phi3Vocab)) {
            for (String key : v.metadata().keySet()) {
                if (!key.startsWith("tokenizer.")) continue;
                assertEquals(v.valueTypes().get(key), m.valueTypes().get(key), key);
                Object a = v.get(key), b = m.get(key);
                if (a instanceof Object[] x) assertArrayEquals(x, (Object[]) b, key);
                else if (a instanceof float[] x) assertArrayEquals(x, (float[]) b, key);
                else if (a instanceof int[] x) assertArrayEquals(x, (int[]) b, key);
                else assertEquals(a, b, key);
            }
            assertEquals(32011, m.getLong("llama.vocab_size", 0));
            assertArrayEquals(new long[] {64, 32011}, m.tensors().get("token_embd.weight").shape());
            assertNull(m.get("tokenizer.chat_template"));
        }
    }

    @Test
    void synthVocabRefusals() {
        String out = dir.resolve("x.gguf").toString();
        assertUserError(run("synth", "--preset", "tiny", "--vocab", dir.resolve("none.gguf").toString(), out), "vocab file not found", "none.gguf");
        Path notGguf = dir.resolve("text.gguf");
        try {
            java.nio.file.Files.writeString(notGguf, "not a gguf file at all, just text");
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
        assertUserError(run("synth", "--preset", "tiny", "--vocab", notGguf.toString(), out), "text.gguf");
        // A model file without a vocabulary: written here with general.* keys only.
        Path noVocab = dir.resolve("no-vocab.gguf");
        new GgufWriter().putString("general.architecture", "llama").write(noVocab);
        assertUserError(run("synth", "--preset", "tiny", "--vocab", noVocab.toString(), out),
                "synth: --vocab " + noVocab + " has no vocabulary", "tokenizer.ggml.model is missing", "expected a GGUF with tokenizer.ggml.* keys");
        assertUserError(run("synth", "--dims", "64,128,1,4,2,300", "--vocab", spmVocab.toString(), out),
                "--dims gives VOCAB 300", "has 32000 tokens", "give 32000");
        assertUserError(run("synth", "--preset", "tiny", "--chat-template-text", "", out), "--chat-template-text must not be empty");
        assertFalse(java.nio.file.Files.exists(Path.of(out)), "nothing written");
    }
}
