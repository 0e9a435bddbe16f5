"""Benchmarks shipped with feedwatch (`feedwatch bench ...`): measured side by side, in one run."""
