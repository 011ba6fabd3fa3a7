"""Benchmarks of the operator (issue 11): run ``python benchmarks/operator_load.py --help``."""
