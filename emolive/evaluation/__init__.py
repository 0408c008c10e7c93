"""Evaluation commands (`emolive eval ...`) and their shared metrics."""
