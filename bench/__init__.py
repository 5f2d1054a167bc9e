"""Benchmarks, run on purpose (`make bench`); tests never assert on speed."""
