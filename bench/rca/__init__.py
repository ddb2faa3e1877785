"""The root-cause incident benchmark: `python -m bench.rca --incidents 60 --seed 1` (see README.md)."""
