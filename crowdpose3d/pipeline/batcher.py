"""The batcher of a pipeline with several sources: one model batch from whatever waits.

Each source has its own bounded inbox (`Inbox`). A live source that runs ahead drops its
own oldest waiting frame; a file source waits for room. The `Batcher` forms a batch from
the frames waiting in every inbox, taken in turn (round robin, so no source starves), up to
``max_batch`` frames; when fewer wait it waits at most ``max_wait_ms`` after the first one
for more, so a frame's wait is bounded. A source whose downstream stages are behind (its
``ready`` callback says no) is skipped, so a slow camera never holds the others' frames.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from crowdpose3d.pipeline.frame import Frame

_POLL_S = 0.1  # how often waiting threads look at the stop flag


class Inbox:
    """The frames of one source waiting for the model; bounded, drop-oldest when ``live``.

    All inboxes of a run share one condition (``lock``), so the batcher wakes when any
    source delivers a frame.
    """

    def __init__(self, source_id: str, size: int, live: bool, lock: threading.Condition):
        self.source_id = source_id
        self.size = size
        self.live = live
        self.lock = lock
        self.frames: deque[tuple[Frame, float]] = deque()  # (frame, time it arrived)
        self.ended = False  # the source will deliver no more frames
        self.dropped = 0  # live frames dropped because the inbox was full

    def put(self, frame: Frame, stop: threading.Event) -> None:
        """Add a frame: a live inbox drops its oldest when full; a file inbox waits for
        room (or for ``stop``)."""
        with self.lock:
            if self.live:
                while len(self.frames) >= self.size:
                    self.frames.popleft()
                    self.dropped += 1
            else:
                while len(self.frames) >= self.size and not stop.is_set():
                    self.lock.wait(_POLL_S)
            self.frames.append((frame, time.perf_counter()))
            self.lock.notify_all()

    def end(self) -> None:
        """The source has finished (or failed): no more frames will come."""
        with self.lock:
            self.ended = True
            self.lock.notify_all()


class Batcher:
    """Forms model batches from several `Inbox`es (see the module docstring).

    Args:
        inboxes: one per source.
        max_batch: most frames per batch.
        max_wait_ms: longest wait, after the first frame of a batch is available, for more.
        ready: ``ready(i, taken)`` -> whether source ``i`` may give one more frame, with
            ``taken`` of its frames already in the batch (its downstream queue has room).
    """

    def __init__(
        self,
        inboxes: Sequence[Inbox],
        max_batch: int,
        max_wait_ms: float,
        ready: Callable[[int, int], bool] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.inboxes = list(inboxes)
        self.lock = self.inboxes[0].lock if self.inboxes else threading.Condition()
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000
        self.ready = ready or (lambda i, taken: True)
        self._start = 0  # the inbox that goes first in the next batch (round robin)

    def next_batch(self, stop: threading.Event) -> list[tuple[int, Frame, float]] | None:
        """The next batch as (inbox index, frame, time it arrived), in each source's order;
        an empty list when nothing came for a while (so the caller can look at its sources);
        None when every inbox has ended and is empty (or ``stop`` is set)."""
        batch: list[tuple[int, Frame, float]] = []
        with self.lock:
            if stop.is_set():
                return None
            self._take(batch)
            if not batch:
                if all(inbox.ended and not inbox.frames for inbox in self.inboxes):
                    return None
                self.lock.wait(_POLL_S)
                self._take(batch)
                if not batch:
                    return []
            deadline = batch[0][2] + self.max_wait_s  # bounded by the first frame's arrival
            while len(batch) < self.max_batch and not stop.is_set():
                left = deadline - time.perf_counter()
                if left <= 0 or all(inbox.ended for inbox in self.inboxes):
                    break
                self.lock.wait(left)
                self._take(batch)
            self.lock.notify_all()  # file sources waiting for room
        self._start = (self._start + 1) % max(len(self.inboxes), 1)
        return batch

    def _take(self, batch: list[tuple[int, Frame, float]]) -> None:
        """Move waiting frames into ``batch``, one per source in turn, while there is room."""
        taken = [sum(1 for i, _, _ in batch if i == k) for k in range(len(self.inboxes))]
        order = [(self._start + k) % len(self.inboxes) for k in range(len(self.inboxes))]
        moved = True
        while moved and len(batch) < self.max_batch:
            moved = False
            for i in order:
                inbox = self.inboxes[i]
                if len(batch) >= self.max_batch:
                    break
                if inbox.frames and self.ready(i, taken[i]):
                    frame, arrived = inbox.frames.popleft()
                    batch.append((i, frame, arrived))
                    taken[i] += 1
                    moved = True
