"""vsearch benchmarks."""
