package io.github.tokenbutler.serve;

import io.github.tokenbutler.gguf.CopiedVocab;
import io.github.tokenbutler.gguf.GgufWriter;
import io.github.tokenbutler.gguf.SynthModel;
import io.github.tokenbutler.runtime.Llama3.ChatFormat;
import io.github.tokenbutler.runtime.Llama3.ChatMessage;
import io.github.tokenbutler.runtime.Llama3.ChatTemplate;
import io.github.tokenbutler.runtime.Llama3.GGMLType;
import io.github.tokenbutler.runtime.Llama3.Generator;
import io.github.tokenbutler.runtime.Llama3.LoadOptions;
import io.github.tokenbutler.runtime.SharedData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * /v1/chat/completions formats the messages with the model's chat template family, read from its file: a random
 * tiny model with llama.cpp's Llama 2 vocabulary and Llama-2-chat's template (shortened) is served, and the prompt
 * it counts is the Llama 2 rendering of the messages (developer is OpenAI's name for system). With
 * --chat-template's choice (the Java API's open with a family) the count follows that family.
 */
class ChatTemplateServeTest {
    @TempDir Path dir;

    static final String LLAMA2 = "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
            + "{% endif %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}";

    Path model() {
        Path vocab = SharedData.require("models/tokenizer-tests/llama-spm/ggml-vocab-llama-spm.gguf");
        Path model = dir.resolve("llama2-chat.gguf");
        CopiedVocab v = CopiedVocab.read(vocab, "vocabulary");
        SynthModel.write(SynthModel.withVocab(SynthModel.PRESETS.get("tiny-mha"), v.size()), "tiny-mha", GGMLType.Q8_0, 1, v, LLAMA2, model,
                GgufWriter.Progress.NONE);
        return model;
    }

    int promptTokens(TestServer s) throws Exception {
        HttpResponse<String> r = s.post("/v1/chat/completions", """
                {"messages": [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                 "max_tokens": 2, "temperature": 0}""");
        assertEquals(200, r.statusCode(), r.body());
        return TestServer.json(r).at("/usage/prompt_tokens").asInt();
    }

    @Test
    void chatCompletionsUseTheFamilyOfTheFile() throws Exception {
        Path model = model();
        List<ChatMessage> messages = List.of(new ChatMessage("system", "Be brief."), new ChatMessage("user", "Hi"));
        for (ChatTemplate chosen : new ChatTemplate[] {null, ChatTemplate.CHATML}) {
            Generator g = Generator.open(model, "dense", Map.of(), new LoadOptions(256), chosen);
            ChatTemplate family = chosen == null ? ChatTemplate.LLAMA2 : chosen;
            assertEquals(family, g.chatTemplate());
            int expected = new ChatFormat(g.model().tokenizer(), family).prompt(messages).length;
            try (TestServer s = TestServer.of(TextModel.of(g, model), TestServer.options())) {
                assertEquals(expected, promptTokens(s), family.id());
            }
        }
    }
}
