"""The shipped benchmarks: ingest, memory, end to end and scoring, each measured side by side in one run."""
