"""The live engine: the channels' assembly, the inference worker, the live pipeline with its sinks. Offline
analysis (emolive.offline) builds on it; the clock and rings it shares with capture live in emolive.core."""
