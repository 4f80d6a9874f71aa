"""Worker threads kept between runs: `submit` hands a function to an idle one (a new one when none is idle).

`evsim.run` runs its samples in worker threads while the main thread waits in short timeouts (Ctrl-C, the wall-clock
budget, the progress bar: `evsim.control._supervise`). A thread started per run costs its start-up and the wait
for the scheduler to run it: ~0.1 ms on a quiet machine, 1-1.5 ms per call measured on this project's loaded 2-core
machine, more than the whole run of one digits sample (0.03 ms of loop). Here the threads stay, waiting on a
condition variable; a call wakes one (~10-50 us).

Invariants: every submitted function runs exactly once, in a pool thread, and its `Job.done` is set when it
returns or raises (exceptions are the caller's: `evsim.control` wraps its workers). A submission never waits for
a busy thread: when fewer threads are idle than jobs are queued, a new one starts, so nested runs (a run inside a
worker) cannot deadlock. Threads are daemons (an interpreter exits without them). After a fork the child forgets
the parent's threads (which it does not have) and starts its own.
"""

from __future__ import annotations

import collections
import os
import threading
from typing import Callable


class Job:
    """A submitted function: ``done`` is set once it has run."""

    __slots__ = ("fn", "done")

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
        self.done = threading.Event()


class WorkerPool:
    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._cv = threading.Condition(threading.Lock())
        self._jobs: collections.deque[Job] = collections.deque()
        self._idle = 0  # threads waiting for a job
        self._threads = 0

    def __repr__(self) -> str:
        return f"WorkerPool({self._threads} threads, {self.busy} busy)"

    @property
    def busy(self) -> int:
        """Threads running a job (or about to take one)."""
        return self._threads - self._idle

    def submit(self, fn: Callable[[], None]) -> Job:
        """Run ``fn()`` in a pool thread; returns its `Job` at once."""
        job = Job(fn)
        with self._cv:
            self._jobs.append(job)
            if self._idle >= len(self._jobs):
                self._cv.notify()
                return job
            self._threads += 1
            name = f"evsim-run-{self._threads}"
        threading.Thread(target=self._loop, name=name, daemon=True).start()
        return job

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._jobs:
                    self._idle += 1
                    self._cv.wait()
                    self._idle -= 1
                job = self._jobs.popleft()
            try:
                job.fn()
            finally:
                job.done.set()


POOL = WorkerPool()
os.register_at_fork(after_in_child=POOL._reset)
