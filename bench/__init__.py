"""Benchmarks of lockstep (not `benchmarks`: xdsl's wheel ships a top-level package of that name)."""
