"""Collective algorithms: each module turns a `Job` into hops (see synthesize.py)."""
