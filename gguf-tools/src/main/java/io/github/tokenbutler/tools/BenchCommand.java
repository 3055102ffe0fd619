package io.github.tokenbutler.tools;

import io.github.tokenbutler.progress.ProgressBar;
import io.github.tokenbutler.plugin.hook.InstrumentedAttention;
import io.github.tokenbutler.runtime.Llama3;
import io.github.tokenbutler.runtime.Llama3.KvRows;
import io.github.tokenbutler.runtime.Llama3.KvType;
import io.github.tokenbutler.runtime.Llama3.AttentionHook;
import io.github.tokenbutler.runtime.Llama3.LoadOptions;
import io.github.tokenbutler.runtime.Llama3.Model;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;
import io.github.tokenbutler.runtime.Llama3.Parallel;
import io.github.tokenbutler.runtime.Llama3.State;
import io.github.tokenbutler.runtime.Llama3.UserError;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * `bench`: speed of the runtime and of the attention hooks, reported as ratios measured in one run.
 * Two modes:
 * <ul>
 *   <li>throughput (no --context): prefill and decode tokens/s, and the weight bytes decode reads per
 *       second next to this machine's memory read bandwidth measured in the same run;</li>
 *   <li>long context (--context C1,C2,..): decode steps at each context under each attention, with the KV
 *       cache filled with synthetic keys and values instead of running the prompt through the model (a
 *       step's cost does not depend on what the cache holds, and a 32K prefill would take an hour here);
 *       the share of each step spent in the weights, the predictor, the selection and the attention.</li>
 * </ul>
 */
public final class BenchCommand implements Command {
    @Override public String name() { return "bench"; }

    @Override public String summary() { return "prefill/decode speed, memory bandwidth, and sparse vs dense decode at long context"; }

    @Override public String usage() {
        return """
                usage: ./tokenbutler bench --model M.gguf [--prompt-tokens N] [--gen-tokens N] [--repeat N]
                       ./tokenbutler bench --model M.gguf --context 1024,8192,32768 [--attention dense,tokenbutler]
                                           [--attention-opt KEY=VALUE ...] [--backends cpu,opencl] [--steps N] [--warmup N] [--rounds N]
                  Throughput mode (no --context): prefill N prompt tokens (default 128), then decode N tokens
                  (default 32); prints tokens/s and decode's weight bytes per second next to the memory read
                  bandwidth measured in the same run. --repeat N runs it N times (default 2) and keeps the best.
                  Long-context mode: for each context and attention, fills the KV cache with synthetic keys and
                  values (the hook's per-sequence state too), then times --steps decode steps (default 8, after
                  --warmup 2) and prints tokens/s, the speed-up over the first attention listed, and where each
                  step went: weights (everything but attention), predictor, selection, attention. The attentions
                  take turns for --rounds rounds (default 2) and each keeps its fastest round.
                  Attention options (e.g. sparsity=0.75, predictor=P.butler.gguf) apply to every attention but dense.
                  --backends B1,B2  runs every attention but dense once per attention backend (backend=B), side by
                                    side in one table (e.g. tokenbutler/cpu and tokenbutler/opencl), with a line
                                    per backend: its predictor + selection + attention against the cpu's
                  --seed S    synthetic tokens and cache contents (default 1)
                  --cache-type-k T, --cache-type-v T   KV cache types, f32, f16 (default) or q8_0 (also -ctk, -ctv)
                """;
    }

    @Override public int run(Args args) {
        Path modelPath = args.existingFile("model");
        long seed = args.longValue("seed", 1);
        if (args.has("context")) {
            List<Integer> contexts = new ArrayList<>();
            for (String s : args.list("context", List.of())) {
                contexts.add((int) args.parseNumber("context", s, 1, 1 << 24));
            }
            List<String> attentions = args.list("attention", List.of("dense", "tokenbutler"));
            List<String> optionStrings = args.all("attention-opt");
            int steps = args.integer("steps", 8, 1, 100_000);
            int warmup = args.integer("warmup", 2, 0, 100_000);
            int rounds = args.integer("rounds", 2, 1, 100);
            List<String> backends = args.list("backends", List.of());
            for (String b : backends) {
                if (!List.of("cpu", "opencl", "auto").contains(b)) {
                    throw new UserError("bench: option --backends expects a list of cpu, opencl and auto, got '" + b + "'");
                }
            }
            KvType keyType = args.kvType("cache-type-k", KvType.F16), valueType = args.kvType("cache-type-v", KvType.F16);
            args.finish(0);
            Map<String, String> options = Llama3.attentionOptions(optionStrings);
            if (!backends.isEmpty() && options.containsKey("backend")) {
                throw new UserError("bench: give the backend either as --backends or as --attention-opt backend=..., not both");
            }
            List<Variant> variants = new ArrayList<>();
            for (String a : attentions) {
                AttentionHook hook = Llama3.findAttentionHook(a);
                if (a.equals("dense")) {
                    variants.add(new Variant(a, hook, Map.of()));
                } else if (backends.isEmpty()) {
                    variants.add(new Variant(a, hook, options));
                } else {
                    for (String b : backends) {
                        Map<String, String> withBackend = new LinkedHashMap<>(options);
                        withBackend.put("backend", b);
                        variants.add(new Variant(a + "/" + b, hook, withBackend));
                    }
                }
            }
            longContext(modelPath, contexts, variants, options, steps, warmup, rounds, seed, keyType, valueType);
        } else {
            int promptTokens = args.integer("prompt-tokens", 128, 1, 1 << 20);
            int genTokens = args.integer("gen-tokens", 32, 1, 1 << 20);
            int repeat = args.integer("repeat", 2, 1, 100);
            KvType keyType = args.kvType("cache-type-k", KvType.F16), valueType = args.kvType("cache-type-v", KvType.F16);
            args.finish(0);
            throughput(modelPath, promptTokens, genTokens, repeat, seed, keyType, valueType);
        }
        return 0;
    }

    // ---- throughput -------------------------------------------------------------------------------

    private static void throughput(Path modelPath, int promptTokens, int genTokens, int repeat, long seed, KvType keyType, KvType valueType) {
        try (Model model = Model.load(modelPath, new LoadOptions(promptTokens + genTokens, keyType, valueType))) {
            ModelConfig c = model.config();
            System.out.printf(Locale.ROOT, "model %s: dim %d, %d layers, %d/%d heads, vocab %d; %s of weights read per decoded token%s; %d threads%n",
                    modelPath.getFileName(), c.dim(), c.nLayers(), c.nHeads(), c.nKvHeads(), c.vocabSize(),
                    mib(model.weightBytesPerToken()), model.repackedBytes() == 0 ? "" : " (plus " + mib(model.repackedBytes())
                            + String.format(Locale.ROOT, " of heap copies made at load in %.1f s, decode reads them instead: Q8_0, Q4_0, Q4_K and Q6_K matrices in row groups of 16 for int8 kernels)",
                            model.repackNanos() / 1e9), Parallel.THREADS);
            int[] tokens = syntheticTokens(c.vocabSize(), promptTokens + genTokens, seed);
            State state = model.newState(null);
            double bestPrefill = 0, bestDecode = 0;
            // On a terminal only (the output is the table); told between the timed parts, never inside them.
            try (ProgressBar progress = ProgressBar.on(System.err, "bench", (long) repeat * (promptTokens + genTokens),
                    ProgressBar.Unit.of("token", "tokens"), 0)) {
            for (int r = 0; r < repeat; r++) {
                long t0 = System.nanoTime();
                float[] logits = model.forward(state, tokens, 0, promptTokens, 0, false);
                long t1 = System.nanoTime();
                progress.update((long) r * (promptTokens + genTokens) + promptTokens, "run " + (r + 1) + " of " + repeat + ": decode");
                int token = Llama3.Sampler.argmax(logits);
                for (int i = 0; i < genTokens; i++) {
                    tokens[promptTokens + i] = token;
                    token = Llama3.Sampler.argmax(model.forward(state, tokens, promptTokens + i, 1, promptTokens + i, false));
                }
                long t2 = System.nanoTime();
                double prefill = promptTokens / ((t1 - t0) / 1e9), decode = genTokens / ((t2 - t1) / 1e9);
                progress.update((long) (r + 1) * (promptTokens + genTokens), r + 1 < repeat ? "run " + (r + 2) + " of " + repeat + ": prefill" : "");
                progress.printAbove(System.out, String.format(Locale.ROOT, "run %d: prefill %d tokens %.1f tokens/s, decode %d tokens %.2f tokens/s%n",
                        r + 1, promptTokens, prefill, genTokens, decode));
                bestPrefill = Math.max(bestPrefill, prefill);
                bestDecode = Math.max(bestDecode, decode);
            }
            progress.finish();
            }
            double bandwidth = MemoryBandwidth.measure();
            double decodeBytes = bestDecode * model.weightBytesPerToken();
            System.out.printf(Locale.ROOT, "prefill %.1f tokens/s; decode %.2f tokens/s; KV cache K %s, V %s: %s of K/V read by the last step%n",
                    bestPrefill, bestDecode, keyType, valueType, mib(model.kvBytesPerToken(promptTokens + genTokens - 1)));
            System.out.printf(Locale.ROOT, "decode reads %.2f GB/s of weights; this machine reads %.2f GB/s (measured now, %d threads):"
                            + " %.0f%% of the bandwidth bound of %.1f tokens/s%n",
                    decodeBytes / 1e9, bandwidth / 1e9, Parallel.THREADS, 100 * decodeBytes / bandwidth,
                    bandwidth / model.weightBytesPerToken());
        }
    }

    /** Token ids drawn uniformly (not BOS-led text): decode speed does not depend on which tokens run. */
    private static int[] syntheticTokens(int vocab, int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = rnd.nextInt(vocab);
        return t;
    }

    // ---- long context ------------------------------------------------------------------------------

    /** One column of the long-context table: an attention hook with its options (label "name" or "name/backend"). */
    private record Variant(String label, AttentionHook hook, Map<String, String> options) {}

    private static void longContext(Path modelPath, List<Integer> contexts, List<Variant> variants,
                                    Map<String, String> options, int steps, int warmup, int rounds, long seed, KvType keyType, KvType valueType) {
        // C2 needs a few dozen decode steps to compile the hot loops (the matmuls' included), and a context long
        // enough for the selection's long-row paths: run them once, untimed, before the table. Otherwise the
        // first rows time interpreted and C1 code, and a compiler thread that competes for the two cores.
        // one try from the bar's creation to its end, so a hook that fails to open during the warm-up still ends
        // the bar's line before the error is printed (close after finish does nothing)
        BenchProgress progress = null;
        try {
            try (Model model = Model.load(modelPath, new LoadOptions(JIT_WARMUP_CONTEXT + JIT_WARMUP_STEPS + 1, keyType, valueType))) {
                progress = benchProgress(model, contexts, variants.size(), steps, warmup, rounds);
                for (Variant v : variants) {
                    progress.bar().clear(); // opening a hook may print the attention backend it chose
                    decodeAt(model, v.hook().open(model.info(), v.options()), JIT_WARMUP_CONTEXT, 1, JIT_WARMUP_STEPS, seed, progress,
                            "JIT warm-up: " + v.label());
                }
            }
            longContextRuns(modelPath, contexts, variants, options, steps, warmup, rounds, seed, keyType, valueType, progress);
            progress.bar().finish();
        } finally {
            if (progress != null) progress.bar().close();
        }
    }

    /**
     * Counts decode steps; share and time left weigh each step by what it reads, in KV positions: its context plus
     * the weights' bytes over one position's K/V bytes (a 32K step costs far more than a 1K one).
     */
    private static BenchProgress benchProgress(Model model, List<Integer> contexts, int variants, int steps, int warmup, int rounds) {
        long weightPositions = model.weightBytesPerToken() / Math.max(1, model.kvBytesPerToken(0));
        long count = (long) variants * (JIT_WARMUP_STEPS + 1), work = count * (JIT_WARMUP_CONTEXT + weightPositions);
        for (int context : contexts) {
            long n = (long) rounds * variants * (warmup + steps);
            count += n;
            work += n * (context + weightPositions);
        }
        return new BenchProgress(ProgressBar.on(System.err, "bench", count, ProgressBar.Unit.of("step", "steps"), 0).weighted(work),
                weightPositions);
    }

    /** The bar of the long-context mode and the weight of one decode step beyond its context. */
    private record BenchProgress(ProgressBar bar, long weightPositions) {
        void stepsDone(int n, int context, String status) { bar.advance(n, n * (context + weightPositions), status); }
    }

    private static void longContextRuns(Path modelPath, List<Integer> contexts, List<Variant> variants, Map<String, String> options,
                                        int steps, int warmup, int rounds, long seed, KvType keyType, KvType valueType, BenchProgress progress) {
        ProgressBar bar = progress.bar();
        boolean header = true;
        for (int context : contexts) {
            // One load per context: the KV cache is sized by the model's context, and a 32K cache for a 1K run
            // would only measure the allocator.
            try (Model model = Model.load(modelPath, new LoadOptions(context + warmup + steps, keyType, valueType))) {
                ModelConfig c = model.config();
                if (header) {
                    bar.printAbove(System.out, String.format(Locale.ROOT, "model %s: %d layers, %d/%d heads, head size %d; %d threads; KV cache K %s, V %s; options %s%n",
                            modelPath.getFileName(), c.nLayers(), c.nHeads(), c.nKvHeads(), c.headSize(), Parallel.THREADS, keyType, valueType, options));
                    bar.printAbove(System.out, "the KV cache (and each hook's per-sequence state) is filled with synthetic values, not by a prefill;"
                            + " then " + warmup + " warm-up and " + steps + " timed decode steps (after " + JIT_WARMUP_STEPS
                            + " untimed steps per attention at context " + JIT_WARMUP_CONTEXT + ", for the JIT); best of "
                            + rounds + " rounds per attention\n");
                    bar.printAbove(System.out, String.format(Locale.ROOT, "%-8s %-18s %9s %9s %8s %8s %10s %10s %10s%n",
                            "context", "attention", "tokens/s", "ms/step", "speedup", "weights", "predictor", "selection", "attention"));
                    header = false;
                }
                // Round-robin over the attentions, keeping each one's fastest round: on a shared 2-core machine a
                // round can lose a core for a while (seen as +40-120 ms steps in whichever attention ran then), and
                // taking the best round of each keeps that out of the ratio.
                StepTimes[] best = new StepTimes[variants.size()];
                for (int round = 0; round < rounds; round++) {
                    for (int i = 0; i < variants.size(); i++) {
                        Variant v = variants.get(i);
                        System.gc(); // the previous state's cache is garbage now; the runtime checks the free heap before allocating
                        bar.clear(); // opening a hook may print the attention backend it chose
                        StepTimes t = decodeAt(model, v.hook().open(model.info(), v.options()), context, steps, warmup, seed, progress,
                                context + " " + v.label() + ", round " + (round + 1) + " of " + rounds);
                        if (best[i] == null || t.total < best[i].total) best[i] = t;
                    }
                }
                double baseline = 0;
                double denseBytesPerSecond = 0;
                for (int i = 0; i < variants.size(); i++) {
                    Variant v = variants.get(i);
                    StepTimes t = best[i];
                    if (v.label().equals("dense")) {
                        denseBytesPerSecond = (model.weightBytesPerToken() + model.kvBytesPerToken(context)) / (t.total / 1e9 / steps);
                    }
                    double tps = steps / (t.total / 1e9);
                    if (baseline == 0) baseline = tps;
                    bar.printAbove(System.out, String.format(Locale.ROOT, "%-8d %-18s %9.2f %9.1f %7.2fx %7.1f%% %9.1f%% %9.1f%% %9.1f%%%n",
                            context, v.label(), tps, t.total / 1e6 / steps, tps / baseline,
                            pct(t.weights, t.total), pct(t.predictor, t.total), pct(t.selection, t.total), pct(t.attention, t.total)));
                }
                List<String> labels = variants.stream().map(Variant::label).toList();
                long[] hook = new long[variants.size()];
                for (int i = 0; i < hook.length; i++) hook[i] = best[i].predictor + best[i].selection + best[i].attention;
                for (String line : backendComparisons(labels, hook, steps)) bar.printAbove(System.out, String.format(Locale.ROOT, "%-8d %s%n", context, line));
                for (int i = 0; i < variants.size(); i++) {
                    StepTimes t = best[i];
                    if (t.keyBytesPerPosition() == 0) continue;
                    bar.printAbove(System.out, String.format(Locale.ROOT, "%-8d %s: importance keys take %d bytes per position (%s at this context); a step's scoring reads %s%n",
                            context, variants.get(i).label(), t.keyBytesPerPosition(), mib(t.keyBytesPerPosition() * (long) context), mib(t.keyBytesPerStep())));
                }
                double bandwidth = MemoryBandwidth.measure();
                bar.printAbove(System.out, String.format(Locale.ROOT, "%-8d a dense step reads %s of weights and %s of K/V (%.1f KiB per position);%s this machine reads %.1f GB/s (%d threads)%n",
                        context, mib(model.weightBytesPerToken()), mib(model.kvBytesPerToken(context)),
                        model.kvBytesPerToken(0) / 1024.0, denseBytesPerSecond == 0 ? "" : String.format(Locale.ROOT,
                                " dense reads %.1f GB/s, %.0f%% of what", denseBytesPerSecond / 1e9, 100 * denseBytesPerSecond / bandwidth),
                        bandwidth / 1e9, Parallel.THREADS));
            }
        }
    }

    /**
     * With --backends: each attention's work on another backend against its work on the CPU, in the same table:
     * "a/opencl: predictor + selection + attention X ms a step, R x a/cpu's Y ms". The work is the hook's time
     * (the columns predictor, selection and attention; attention includes the runtime's dense layer 0 on both).
     * @param labels    the variants' labels ("name" or "name/backend")
     * @param hookNanos each variant's predictor + selection + attention over its timed steps
     */
    static List<String> backendComparisons(List<String> labels, long[] hookNanos, int steps) {
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < labels.size(); i++) {
            String label = labels.get(i);
            int slash = label.lastIndexOf('/');
            if (slash < 0 || label.endsWith("/cpu")) continue;
            int cpu = labels.indexOf(label.substring(0, slash) + "/cpu");
            if (cpu < 0 || hookNanos[cpu] == 0) continue;
            lines.add(String.format(Locale.ROOT, "%s: predictor + selection + attention %.2f ms a step, %.2fx %s's %.2f ms", label,
                    hookNanos[i] / 1e6 / steps, (double) hookNanos[i] / hookNanos[cpu], labels.get(cpu), hookNanos[cpu] / 1e6 / steps));
        }
        return lines;
    }

    private static final int JIT_WARMUP_CONTEXT = 4096, JIT_WARMUP_STEPS = 32;

    private record StepTimes(long total, long weights, long predictor, long selection, long attention, long keyBytesPerPosition, long keyBytesPerStep) {}

    /** Times one attention at one context; progress is told after each warm-up step and after the timed steps, never inside them. */
    private static StepTimes decodeAt(Model model, AttentionHook.Attention attention, int context, int steps, int warmup, long seed,
                                      BenchProgress progress, String status) {
        try (attention) {
            State state = model.newState(attention);
            fillCache(state, context, seed);
            InstrumentedAttention instrumented = attention instanceof InstrumentedAttention i ? i : null;
            if (instrumented != null) instrumented.syntheticPrefill(context, seed);
            int[] tokens = syntheticTokens(model.config().vocabSize(), warmup + steps, seed + context);
            int pos = context;
            progress.stepsDone(0, context, status);
            for (int i = 0; i < warmup; i++, pos++) {
                model.forward(state, tokens, i, 1, pos, false);
                progress.stepsDone(1, context, status);
            }
            long attentionBefore = state.attentionNanos, otherBefore = state.otherNanos;
            Map<String, Long> hookBefore = instrumented != null ? instrumented.timingsNanos() : Map.of();
            long t0 = System.nanoTime();
            for (int i = warmup; i < warmup + steps; i++, pos++) model.forward(state, tokens, i, 1, pos, false);
            long total = System.nanoTime() - t0;
            progress.stepsDone(steps, context, status);
            Map<String, Long> hook = instrumented != null ? instrumented.timingsNanos() : Map.of();
            long attentionTotal = state.attentionNanos - attentionBefore;
            long predictor = delta(hook, hookBefore, "predictor"), selection = delta(hook, hookBefore, "selection");
            // The hook's own attention time excludes layer 0 (dense, computed by the runtime): count the rest here.
            long kernel = attentionTotal - predictor - selection - delta(hook, hookBefore, "measure");
            return new StepTimes(total, state.otherNanos - otherBefore, predictor, selection, kernel,
                    instrumented == null ? 0 : instrumented.importanceKeyBytesPerPosition(),
                    instrumented == null ? 0 : instrumented.importanceKeyBytesPerStep(context));
        } catch (Exception e) {
            if (e instanceof RuntimeException r) throw r;
            throw new IllegalStateException(e);
        }
    }

    private static long delta(Map<String, Long> after, Map<String, Long> before, String key) {
        return after.getOrDefault(key, 0L) - before.getOrDefault(key, 0L);
    }

    /** Keys and values of positions 0..n-1 of every layer: uniform in [-1, 1), as if a prompt had run. */
    private static void fillCache(State state, int n, long seed) {
        int kvDim = state.model().config().kvDim();
        state.ensureCapacity(n);
        KvRows[] k = state.keys, v = state.values;
        Parallel.forRange(k.length * 2, 1, (from, to, worker) -> {
            float[] row = new float[kvDim];
            for (int i = from; i < to; i++) {
                KvRows a = (i & 1) == 0 ? k[i >> 1] : v[i >> 1];
                SplittableRandom rnd = new SplittableRandom(seed * 31 + i);
                for (int t = 0; t < n; t++) {
                    for (int j = 0; j < kvDim; j++) row[j] = (float) (2 * rnd.nextDouble() - 1);
                    a.write(t, row, 0, 1);
                }
            }
        });
    }

    private static double pct(long part, long total) { return total == 0 ? 0 : 100.0 * part / total; }

    private static String mib(long bytes) { return String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0); }

    /** This machine's memory read bandwidth as the runtime's threads see it: a parallel sum over a large array. */
    static final class MemoryBandwidth {
        private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

        static double measure() {
            float[] data = new float[128 << 20]; // 512 MiB: far beyond any cache
            Parallel.forRange(data.length, 1 << 20, (from, to, worker) -> {
                for (int i = from; i < to; i++) data[i] = i & 7;
            });
            double best = 0;
            float[] sums = new float[Parallel.THREADS];
            for (int r = 0; r < 5; r++) {
                long t0 = System.nanoTime();
                Parallel.forRange(data.length, 1 << 20, (from, to, worker) -> sums[worker] += sum(data, from, to));
                long t = System.nanoTime() - t0;
                best = Math.max(best, 4.0 * data.length / (t / 1e9));
            }
            if (sums[0] < 0) throw new IllegalStateException("unreachable: keeps the sums alive");
            return best;
        }

        private static float sum(float[] a, int from, int to) {
            FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
            int i = from, step = F.length();
            for (; i + 2 * step <= to; i += 2 * step) {
                acc0 = acc0.add(FloatVector.fromArray(F, a, i));
                acc1 = acc1.add(FloatVector.fromArray(F, a, i + step));
            }
            float s = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
            for (; i < to; i++) s += a[i];
            return s;
        }
    }
}
