package io.github.tokenbutler.tools;

import io.github.tokenbutler.runtime.Llama3;
import io.github.tokenbutler.runtime.Llama3.ChatTemplate;
import io.github.tokenbutler.runtime.Llama3.Generator;
import io.github.tokenbutler.runtime.Llama3.KvType;
import io.github.tokenbutler.runtime.Llama3.LoadOptions;
import io.github.tokenbutler.runtime.Llama3.UserError;
import io.github.tokenbutler.serve.OpenAiServer;
import io.github.tokenbutler.serve.TextModel;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.LocalTime;
import java.time.format.DateTimeFormatter;
import java.util.Map;
import java.util.function.Consumer;

/** `serve`: the model behind an OpenAI-compatible HTTP API (io.github.tokenbutler.serve) until Ctrl-C or SIGTERM. */
public final class ServeCommand implements Command {
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("HH:mm:ss");

    @Override public String name() { return "serve"; }

    @Override public String summary() { return "OpenAI-compatible HTTP server (/v1/chat/completions, /v1/completions, /v1/models)"; }

    @Override public String usage() {
        return """
                usage: ./tokenbutler serve --model M.gguf [--attention NAME --attention-opt KEY=VALUE ...] [--port N] [--host H]
                  Serves the model over HTTP with OpenAI's API: POST /v1/chat/completions and /v1/completions
                  (streamed as server-sent events with "stream": true), GET /v1/models, GET /health.
                  Generations run one at a time on the model, in arrival order; HTTP is handled concurrently.
                  Ctrl-C or SIGTERM stops it: waiting requests get 503, the running one ends after its token
                  (a prefill in progress is not interrupted: a long prompt is read to its end first).
                  --port N               TCP port (default 8080; 0 picks a free one, printed at start)
                  --host H               address to listen on (default 127.0.0.1, this machine only; there is no
                                         authentication, so think twice before 0.0.0.0)
                  --queue N              requests that may wait for the model, 1 or more (default 16); more get 503
                                         with Retry-After
                  --max-request-bytes N  larger request bodies get 413 (default 4194304)
                  --context N            context length in tokens (default: the model's); longer prompts get 400
                  --attention NAME       attention implementation (default dense; e.g. tokenbutler)
                  --attention-opt K=V    an option of the attention, repeatable (e.g. predictor=P.butler.gguf, sparsity=0.5)
                  --cache-type-k T, --cache-type-v T   KV cache types, f32, f16 (default) or q8_0 (also -ctk, -ctv)
                  --chat-template NAME   the chat template family of /v1/chat/completions instead of the model's
                                         (its tokenizer.chat_template, or Llama 3 when the vocabulary has its tokens):
                                         %s (none: the messages' text is continued)
                """.formatted(String.join(", ", ChatTemplate.ids()));
    }

    @Override public int run(Args args) throws InterruptedException {
        Path modelPath = args.existingFile("model");
        OpenAiServer.Options defaults = OpenAiServer.Options.defaults();
        String host = args.string("host", defaults.host());
        int port = args.integer("port", defaults.port(), 0, 65535);
        // At least 1: the worker takes a request from the queue, so with no room for one every request would be refused.
        int queue = args.integer("queue", defaults.queueCapacity(), 1, 10_000);
        int maxRequestBytes = args.integer("max-request-bytes", defaults.maxRequestBytes(), 1024, 1 << 30);
        int context = args.integer("context", 0, 1, 1 << 30);
        String attention = args.string("attention", "dense");
        Map<String, String> attentionOptions = Llama3.attentionOptions(args.all("attention-opt"));
        KvType keyType = args.kvType("cache-type-k", KvType.F16), valueType = args.kvType("cache-type-v", KvType.F16);
        String templateName = args.string("chat-template");
        ChatTemplate chatTemplate;
        try {
            chatTemplate = templateName == null ? null : ChatTemplate.named(templateName);
        } catch (UserError e) {
            throw new UserError("serve: option --chat-template: " + e.getMessage());
        }
        args.finish(0);

        PrintStream err = System.err;
        Consumer<String> log = line -> {
            synchronized (err) {
                err.println(LocalTime.now().format(TIME) + " serve: " + line);
            }
        };
        Generator generator = Generator.open(modelPath, attention, attentionOptions, new LoadOptions(context, keyType, valueType), chatTemplate);
        TextModel model = TextModel.of(generator, modelPath);
        OpenAiServer server;
        try {
            server = OpenAiServer.start(model, new OpenAiServer.Options(host, port, queue, maxRequestBytes, defaults.idleSeconds()), log);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
        Thread shutdown = new Thread(() -> {
            log.accept("shutting down");
            server.close();
            if (server.modelIdle()) model.close();
            else log.accept("the model is left open for the process's exit to release");
            log.accept("stopped");
        }, "serve-shutdown");
        Runtime.getRuntime().addShutdownHook(shutdown);

        log.accept("model " + model.id() + " (context " + model.contextLength() + " tokens, attention " + attention
                + (attentionOptions.isEmpty() ? "" : " " + attentionOptions) + ")");
        if (generator.chatTemplateNote() != null) log.accept(generator.chatTemplateNote());
        if (!model.hasChatTemplate()) {
            log.accept("this model has no chat template: /v1/chat/completions continues the messages' text, one message per line");
        } else {
            log.accept("chat template: " + generator.chatTemplate().id() + (chatTemplate != null ? " (--chat-template)" : ""));
        }
        log.accept("one generation at a time on the model, in arrival order; at most " + queue + " requests wait (more get 503);"
                + " HTTP requests are handled concurrently");
        if (!server.address().getAddress().isLoopbackAddress()) {
            log.accept("listening on " + host + ", beyond this machine: anyone who reaches it can use the model (there is no authentication)");
        }
        log.accept("listening on " + server.url() + "/v1 (Ctrl-C stops)");
        server.awaitClose();
        return 0;
    }
}
