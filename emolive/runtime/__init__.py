"""The engine that live capture and offline analysis share: one clock, the rings, the channels' assembly, the
inference worker, the live pipeline with its sinks, and offline (batch) analysis on a file's clock."""
