"""What every other part of emolive stands on: the session clock, the rings, snapshots, the newest-item thread,
the contracts that cross threads, labels, errors, progress and memory helpers. Imports nothing else of emolive."""
