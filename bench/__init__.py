"""Benchmarks of the real pipeline (not run by the tests): `python -m bench.run`."""
