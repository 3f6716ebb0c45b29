"""Benchmarks: load (scripts/bench), memory (scripts/bench-memory) and synth time (scripts/synth-bench)."""
