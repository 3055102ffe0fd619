/**
 * `./tokenbutler serve`: one GGUF model behind OpenAI's HTTP API, for the clients people already have (the openai
 * packages, LangChain4j, curl).
 * <p>
 * In: HTTP/1.1 requests on loopback (127.0.0.1) by default. POST /v1/chat/completions (messages) and POST
 * /v1/completions (prompt), JSON bodies with OpenAI's fields ({@link io.github.tokenbutler.serve.RequestParser}
 * lists which are used, which are accepted because they change nothing, and which are refused); GET /v1/models,
 * GET /v1/models/{id} and GET /health.
 * <p>
 * Out: OpenAI's response bodies (chat.completion, text_completion, with usage counts and finish_reason "stop" or
 * "length"); with "stream": true, server-sent events, one {@code data: {...}} chunk per piece of text, a last chunk
 * with the finish reason, the usage chunk when stream_options.include_usage asks for it, and {@code data: [DONE]}.
 * Every refusal is OpenAI's error body {@code {"error":{"message","type","param","code"}}}: 400 for a bad field, bad
 * JSON, n other than 1, or a prompt the context cannot hold; 404 and 405 for routes; 413 for a body over the limit;
 * 503 with Retry-After when the queue is full or the server stops.
 * <p>
 * Threads: Netty's two event loops read every connection and answer the cheap routes at once; a generation request
 * is parsed and tokenized on a virtual thread and then waits in {@link io.github.tokenbutler.serve.ModelQueue},
 * whose single worker runs one generation at a time on the model (the model holds one sequence, and its matmuls
 * use every core already). A connection that closes cancels its generation after the current token, or before it
 * starts.
 * <p>
 * Libraries. HTTP: Netty ({@code io.netty:netty-codec-http}, Apache 2.0, released every few weeks, the server under
 * gRPC-Java, Vert.x and Reactor Netty). The JDK's {@code com.sun.net.httpserver} was the other candidate (no
 * dependency), but it reads a connection only while a handler reads the request, so a client that gives up on a
 * non-streamed answer is never seen and its generation runs to the end; Netty reads every connection all the time
 * and reports the close. Its aggregator also refuses a body over the limit by its Content-Length, before reading
 * it. JSON: Jackson ({@code jackson-databind}), the JVM's most used JSON library, also what LangChain4j uses; its
 * tree model lets each field be checked by name, so that an error can name the field, which binding to classes
 * would not.
 */
package io.github.tokenbutler.serve;
