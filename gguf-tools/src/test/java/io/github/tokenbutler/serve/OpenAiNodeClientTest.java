package io.github.tokenbutler.serve;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.tokenbutler.runtime.Llama3.ChatMessage;
import io.github.tokenbutler.runtime.Llama3.GenerationParams;
import io.github.tokenbutler.runtime.Llama3.Generator;
import io.github.tokenbutler.runtime.SharedData;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The official openai npm package (gguf-tools/src/test/node: its version pinned by package-lock.json) against
 * `serve` with stories260K: node runs openai-client.mjs, which prints what each call returned, and the texts are
 * compared with the Java API's. Needs node and npm (npm ci fetches the package once into target/); without them
 * the test is skipped, saying so, and under CI=true it fails, as .ci/run installs them.
 */
@Timeout(value = 600, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class OpenAiNodeClientTest {
    static final String PROMPT = "Once upon a time";

    @Test
    void theOpenaiPackageGetsTheJavaApisTextAndOpenAiErrors() throws Exception {
        Path client = prepareClient();
        JsonNode out;
        String once, stopped;
        try (TestServer server = TestServer.stories(TestServer.options()); Generator reference = TestServer.openStories()) {
            Run r = run(client, 120, "node", "openai-client.mjs", server.url());
            assertEquals(0, r.code(), "node openai-client.mjs failed:\n" + r.err() + r.out());
            out = RequestParser.JSON.readTree(r.out());
            once = reference.chat(List.of(new ChatMessage("user", PROMPT)), GenerationParams.greedy(12), s -> {}).text();
            stopped = reference.chat(List.of(new ChatMessage("system", "A story."), new ChatMessage("user", PROMPT)),
                    GenerationParams.greedy(40).withStop("Lily"), s -> {}).text();
            assertEquals(once, reference.generate(PROMPT, GenerationParams.greedy(12), s -> {}).text(), "no template: chat is continuation");
        }
        assertEquals("stories260K", out.at("/models/0").asText());
        for (String call : List.of("chat", "stream", "completion", "completionStream")) {
            assertEquals(once, out.at("/" + call + "/text").asText(), call);
        }
        for (String call : List.of("chat", "stream", "completion")) {
            assertEquals("length", out.at("/" + call + "/finish").asText(), call);
            assertEquals(5, out.at("/" + call + "/usage/prompt_tokens").asInt(), call);
            assertEquals(12, out.at("/" + call + "/usage/completion_tokens").asInt(), call);
            assertEquals(17, out.at("/" + call + "/usage/total_tokens").asInt(), call);
        }
        assertEquals("chat.completion", out.at("/chat/object").asText());
        assertTrue(out.at("/followUp/usage/prompt_tokens").asInt() > 17, "the answer sent back as history: " + out.get("followUp"));
        assertTrue(out.at("/stream/chunks").asInt() > 3, "streamed in chunks: " + out.at("/stream"));
        assertEquals(stopped, out.at("/stopped/text").asText());
        assertEquals("stop", out.at("/stopped/finish").asText());

        assertRefusal(out.get("unknownField"), "unknown_parameter", "colour");
        assertRefusal(out.get("twoChoices"), "unsupported_value", "n");
        assertRefusal(out.get("tooLong"), "context_length_exceeded", "messages");
    }

    private static void assertRefusal(JsonNode r, String code, String param) {
        assertEquals(400, r.get("status").asInt(), r.toString());
        assertEquals("invalid_request_error", r.get("type").asText(), r.toString());
        assertEquals(code, r.get("code").asText(), r.toString());
        assertEquals(param, r.get("param").asText(), r.toString());
    }

    /** The script and its package in target/openai-node-client, with node_modules installed for this lock file. */
    private static Path prepareClient() throws Exception {
        String nodeVersion = requireTool("node").out().trim();
        requireNodeMajor(nodeVersion);
        requireTool("npm");
        Path source = SharedData.projectRoot().resolve("gguf-tools/src/test/node");
        // Beside test-classes, in the build folder: node_modules never lands in the source tree.
        Path buildDir = Path.of(OpenAiNodeClientTest.class.getProtectionDomain().getCodeSource().getLocation().toURI()).getParent();
        Path dir = buildDir.resolve("openai-node-client");
        Files.createDirectories(dir);
        Path installedLock = dir.resolve("node_modules/.installed-package-lock.json");
        boolean installed = Files.isRegularFile(installedLock)
                && Files.mismatch(installedLock, source.resolve("package-lock.json")) == -1;
        for (String f : List.of("package.json", "package-lock.json", "openai-client.mjs")) {
            Files.copy(source.resolve(f), dir.resolve(f), StandardCopyOption.REPLACE_EXISTING);
        }
        if (!installed) {
            Run r = run(dir, 300, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error");
            if (r.code() != 0) unavailable("npm ci failed (is the npm registry reachable?):\n" + r.err() + r.out());
            Files.copy(source.resolve("package-lock.json"), installedLock, StandardCopyOption.REPLACE_EXISTING);
        }
        return dir;
    }

    /** The openai package 6.x calls the global fetch, which Node.js has from 18 on. */
    static final int MIN_NODE_MAJOR = 18;

    private static Run requireTool(String tool) throws Exception {
        Run r = null;
        try {
            r = run(Path.of("."), 30, tool, "--version");
        } catch (IOException e) {
            unavailable(tool + " is not installed (apt-get install -y nodejs npm)");
        }
        if (r.code() != 0) unavailable(tool + " --version failed: " + r.err());
        return r;
    }

    /** The same words as .ci/run's check, so that an old node reads the same wherever it is found. */
    private static void requireNodeMajor(String version) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("^v?(\\d+)\\.").matcher(version);
        if (!m.find() || Integer.parseInt(m.group(1)) < MIN_NODE_MAJOR) {
            unavailable("Node.js " + version + " found, but the openai npm package 6.x needs Node.js " + MIN_NODE_MAJOR
                    + " or newer (global fetch)");
        }
    }

    /** Skipped on a developer's machine, a failure in CI (where .ci/run installs node and npm). */
    private static void unavailable(String why) {
        String msg = "the openai npm client test cannot run: " + why;
        if ("true".equals(System.getenv("CI"))) fail(msg);
        Assumptions.abort(msg);
    }

    record Run(int code, String out, String err) {}

    private static Run run(Path dir, int timeoutSeconds, String... command) throws Exception {
        Process p = new ProcessBuilder(command).directory(dir.toFile()).start();
        p.getOutputStream().close();
        CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> read(p.getInputStream()));
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(p.getErrorStream()));
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            fail(String.join(" ", command) + " did not finish in " + timeoutSeconds + " s");
        }
        return new Run(p.exitValue(), out.get(10, TimeUnit.SECONDS), err.get(10, TimeUnit.SECONDS));
    }

    private static String read(java.io.InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(cannot read: " + e.getMessage() + ")";
        }
    }
}
