"""Load and resource benchmarks for ``make bench``; not part of the package."""
