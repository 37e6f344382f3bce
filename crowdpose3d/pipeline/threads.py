"""numpy's BLAS threads while a pipeline runs.

The stages around the model (lift, track, the pose lifter) call numpy's BLAS on small
matrices, many times per frame. OpenBLAS answers each call with all its worker threads,
which then spin for a while waiting for more work, on the very cores the model's forward
pass needs. So a run limits numpy's BLAS to one thread (the model's own threads are set
by the pandanet stage's backend, apart from this): measured with
``OPENBLAS_NUM_THREADS=1 python benchmarks/backends.py --quick`` against the same command
without it, on the 2-core CPU (docs/backends.md, "Threads on 2 cores").

A user who sets ``OPENBLAS_NUM_THREADS`` (or ``OMP_NUM_THREADS``) keeps their choice.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

RUN_BLAS_THREADS = 1  # numpy BLAS threads during a run (the matrices are small)
USER_SETTINGS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def run_blas_threads(threads: int = RUN_BLAS_THREADS) -> Iterator[None]:
    """Within the block numpy's BLAS uses at most ``threads`` threads; restored after."""
    if any(name in os.environ for name in USER_SETTINGS):
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads, user_api="blas"):
        yield
