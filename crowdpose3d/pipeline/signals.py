"""Clean stops: SIGTERM (docker stop, systemd) and SIGINT (Ctrl-C) end a run the same way.

While `StopOnSignals` is active, the first signal sets the run's stop flag instead of
killing the process or raising `KeyboardInterrupt` in the middle of a write: the source
stops, the frames already queued (at most ``queue_size`` per queue) flow through every
stage, every sink flushes and renames its output, and the caller exits with 128 + the
signal number (143 for SIGTERM, 130 for SIGINT). A second signal only says that the flush
is under way; the run still ends the same way.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

log = logging.getLogger("crowdpose3d.pipeline")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)  # what an operator sends to end a run
SIGNAL_EXIT_BASE = 128  # a process ended by signal N exits with 128 + N (shell convention)


class StopOnSignals:
    """Context manager: SIGTERM / SIGINT set ``stop`` (a `threading.Event`).

    ``received`` is the first signal's number (None when none came); ``exit_code`` is what
    the process should exit with. Outside the main thread (where Python cannot install
    handlers) it does nothing. The previous handlers come back on exit, unless a signal
    came: then the caller is on its way out with ``exit_code``, and a second signal during
    that exit (the flush done, the interpreter shutting down) is ignored instead of killing
    the process with the default action (exit status -N instead of 128 + N).
    """

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopOnSignals:
        if threading.current_thread() is threading.main_thread():
            for number in STOP_SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler if self.received is None else signal.SIG_IGN)
        self._previous.clear()

    @property
    def exit_code(self) -> int | None:
        return None if self.received is None else SIGNAL_EXIT_BASE + self.received

    def _handle(self, number: int, _frame: FrameType | None) -> None:
        name = signal.Signals(number).name
        if self.received is None:
            self.received = number
            log.warning("%s: stopping; flushing the results so far", name)
        else:
            log.warning("%s: still flushing the results so far; please wait", name)
        self.stop.set()
