///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 25+
//DEPS io.github.tokenbutler:tokenbutler-runtime:0.1.0-SNAPSHOT
//COMPILE_OPTIONS --add-modules=jdk.incubator.vector -Xlint:-incubating
//RUNTIME_OPTIONS --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED
//
// The runtime's Java API from a script of your own: a story from stories260K, greedy, up to the first line end.
// After `mvn install` in the repository root (which puts tokenbutler-runtime into ~/.m2), from that root:
//   jbang examples/HelloTokenButler.java [MODEL.gguf] [PROMPT]
// With TokenButler's sparse attention: add the plugin to the dependencies,
//   //DEPS io.github.tokenbutler:tokenbutler-plugin:0.1.0-SNAPSHOT
// and open the model with Generator.open(model, "tokenbutler", Map.of("predictor", "M.butler.gguf"), load).

import io.github.tokenbutler.runtime.Llama3.Completion;
import io.github.tokenbutler.runtime.Llama3.GenerationParams;
import io.github.tokenbutler.runtime.Llama3.Generator;
import io.github.tokenbutler.runtime.Llama3.LoadOptions;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.nio.file.Path;
import java.util.Map;

public class HelloTokenButler {
    public static void main(String[] args) {
        Path model = Path.of(args.length > 0 ? args[0] : "../shared/models/stories260K/stories260K.gguf");
        String prompt = args.length > 1 ? args[1] : "Once upon a time";
        // stories260K's metadata says a context of 128 tokens; it was trained at 512.
        try (Generator g = Generator.open(model, "dense", Map.of(), new LoadOptions(512))) {
            System.out.print(prompt);
            Completion c = g.generate(prompt, GenerationParams.greedy(100).withStop("\n"), System.out::print);
            System.out.println();
            System.err.printf("%d tokens at %.1f tokens/s, finish: %s%n", c.generatedTokens(), c.decodeTokensPerSecond(), c.finish());
        } catch (UserError e) {
            System.err.println("error: " + e.getMessage());
            System.exit(2);
        }
    }
}
