"""Model calls with a time limit that a hung model cannot outlast.

A policy's ``act`` runs native code (onnxruntime) that Python cannot interrupt, so a call
that never returns cannot be cancelled, only left behind. :class:`InferenceRunner` runs
each call on a worker thread and waits at most the time limit; a call past it is
*abandoned* with its thread, and the next call gets a fresh worker, so one hung call
costs one cycle, not every cycle after it (a single-thread executor would queue every
later call behind the hung one).

Why threads and not a subprocess: the decision latency target is a p99 under 2 ms
(``benchmarks/bench_controller.py``); a hand-off to a resident thread costs tens of
microseconds, a round trip to another process with the points and setpoints serialized
costs far more, and a killable subprocess would need its own copy of the model.

Abandoned threads are bounded and never hold up the process:

- every worker is a daemon thread, so interpreter exit (SIGTERM, end of ``coolpilot
  serve``) does not wait for it, unlike ``concurrent.futures`` workers, which are joined
  at exit;
- an abandoned worker ends by itself if its call ever returns (its result is dropped);
- at most ``max_hung`` abandoned workers may be alive at once; past that no new worker
  is started and calls fail at once with :class:`WorkersExhaustedError` (the service
  treats that like a timeout: its fallback ladder takes over). Only a restart frees
  threads that stay hung.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

MAX_HUNG_WORKERS = 8
"""Abandoned worker threads that may still be alive (hung) before no new worker is started."""


class WorkersExhaustedError(RuntimeError):
    """No worker can be started: :data:`MAX_HUNG_WORKERS` abandoned workers are still hung."""


@dataclass(frozen=True)
class _Job(Generic[T, R]):
    fn: Callable[[T], R]
    arg: T
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[R]


def _deliver(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    """Hand a worker's outcome to the waiting coroutine, unless it stopped waiting (time limit passed)."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class _Worker:
    """A daemon thread running submitted calls one after the other until it is closed."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job[Any, Any] | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self.thread.start()

    def submit(self, fn: Callable[[T], R], arg: T) -> asyncio.Future[R]:
        """Queue ``fn(arg)``; the returned future (of the running loop) gets its result or exception."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._jobs.put(_Job(fn, arg, loop, future))
        return future

    def close(self) -> None:
        """Let the thread end once the call in hand (if any) returns; it takes no call after it."""
        self._jobs.put(None)

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            result: Any = None
            error: BaseException | None = None
            try:
                result = job.fn(job.arg)
            except Exception as err:  # the model's failure is the caller's to record, not this thread's
                error = err
            try:
                job.loop.call_soon_threadsafe(_deliver, job.future, result, error)
            except RuntimeError:  # the event loop closed while the call ran: nobody is waiting for it
                log.debug("%s: result of an abandoned call dropped (event loop closed)", self.thread.name)


class InferenceRunner:
    """Runs blocking calls on worker threads with a time limit; see the module docstring.

    Use from one event loop only (the control loop's); :attr:`hung` may be read from any thread.
    """

    def __init__(self, name: str = "coolpilot-infer", max_hung: int = MAX_HUNG_WORKERS) -> None:
        if max_hung < 1:
            raise ValueError(f"max_hung = {max_hung}: allow at least one abandoned worker")
        self.name = name
        self.max_hung = max_hung
        self._worker: _Worker | None = None
        self._abandoned: list[threading.Thread] = []
        self._serial = itertools.count(1)
        self._guard = threading.Lock()

    @property
    def hung(self) -> int:
        """Abandoned workers whose call has not returned yet."""
        with self._guard:
            self._abandoned = [t for t in self._abandoned if t.is_alive()]
            return len(self._abandoned)

    async def call(self, fn: Callable[[T], R], arg: T, timeout_s: float) -> R:
        """``fn(arg)`` on the resident worker within ``timeout_s`` seconds.

        Raises what ``fn`` raised, :class:`TimeoutError` past the limit (the worker is then
        abandoned and the next call starts a fresh one) or :class:`WorkersExhaustedError`.
        """
        if self._worker is None:
            self._worker = self._start()
        return await self._wait(self._worker, fn, arg, timeout_s)

    async def call_once(self, fn: Callable[[T], R], arg: T, timeout_s: float) -> R:
        """Like :meth:`call`, on a worker of its own that ends afterwards (work beside the resident worker's)."""
        worker = self._start()
        try:
            return await self._wait(worker, fn, arg, timeout_s)
        finally:
            worker.close()

    def close(self) -> None:
        """Let the resident worker end; hung workers are left to the process's exit (they are daemons)."""
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def _start(self) -> _Worker:
        hung = self.hung
        if hung >= self.max_hung:
            raise WorkersExhaustedError(f"{hung} abandoned inference threads are still hung (at most "
                                        f"{self.max_hung}); no new one is started: restart the service to free them")
        return _Worker(f"{self.name}-{next(self._serial)}")

    async def _wait(self, worker: _Worker, fn: Callable[[T], R], arg: T, timeout_s: float) -> R:
        future = worker.submit(fn, arg)
        try:
            return await asyncio.wait_for(future, timeout=timeout_s)
        except (TimeoutError, asyncio.CancelledError):
            self._abandon(worker)
            raise

    def _abandon(self, worker: _Worker) -> None:
        """Leave ``worker`` to its call; it ends by itself if the call ever returns."""
        worker.close()
        if self._worker is worker:
            self._worker = None
        with self._guard:
            self._abandoned.append(worker.thread)
        log.warning("%s abandoned: its call is past the time limit (%d abandoned and still running)",
                    worker.thread.name, self.hung)
