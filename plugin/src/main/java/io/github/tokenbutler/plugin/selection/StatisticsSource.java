package io.github.tokenbutler.plugin.selection;

/** Implemented by the plugin's Llama3.AttentionHook.Attention objects; statistics accumulate until reset by the caller. */
public interface StatisticsSource {
    SelectionStatistics statistics();
}
