"""The Python heap during a sync run: keep the cyclic garbage collector off what was alive
before the run.

A run allocates a few objects per row (records, field dicts, results). Each allocation burst
triggers the collector, and its full collections walk every object of the process: the
modules of duckdb, pyarrow, pydantic, requests ... (hundreds of thousands of objects) that
live as long as the process. Measured on the null destination (benchmarks/
bench_destinations.py), that walk was about a fifth of the engine's time per row.
``gc.freeze()`` moves the objects alive at the start of the run to the permanent generation,
which the collector never scans; the run's own garbage is still collected as usual. Frozen
pages are also never written by the collector, so encode workers forked during the run
(reverse_etl/encode_ahead.py) keep sharing them with the sync instead of copying them.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def long_lived_frozen() -> Iterator[None]:
    """Freeze the objects alive now for the duration of the block (collecting the garbage
    cycles first, so none of them is frozen), then unfreeze them."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
