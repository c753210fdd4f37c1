"""Map picklable tasks over local processes or a Ray cluster, with retries and failure reporting.

One small engine for every fan-out of the project (training sweeps, what-if runs)::

    with open_runner(ray_address=None, max_workers=4, retries=1) as runner:
        outcomes = runner.map(run_case, [("case-a", spec_a), ("case-b", spec_b)])
    for out in outcomes:
        print(out.key, out.value if out.ok else out.error)

or in one call, ``map_tasks(run_case, items, ray_address="auto")``.

``fn`` and every item must be picklable (``fn`` a module-level function importable on the
workers); each task returns one picklable value. A task **fails** when it raises or when its
worker process dies (SIGKILL, out-of-memory kill, segfault, a lost Ray node). A failed task
is run again, up to ``retries`` more times; after that its :class:`TaskOutcome` carries the
error and every attempt's error. No task is ever dropped: ``map`` returns one outcome per
item, in the items' order, and the other tasks are unaffected by a failure.

Backends:

- **local** (default): a ``concurrent.futures.ProcessPoolExecutor`` with the ``spawn``
  context (no forked torch/numba state) and ``max_workers`` processes, reused across
  ``map`` calls. When a worker dies the pool breaks and every running task is interrupted.
  The task that died is known when it ran alone; otherwise the interrupted tasks are run
  again one at a time (isolated), so a crash is charged to the task that causes it and never
  costs an innocent task an attempt. A task that killed its worker stays isolated.
- **ray** (``ray_address`` given: ``auto``, ``HOST:PORT`` or ``ray://HOST:10001``):
  ``ray.init(address=...)`` then one ``ray.remote`` task per item with ``num_cpus`` /
  ``num_gpus`` resources. Ray's own retries are off (``max_retries=0``) and this module
  retries instead, so both backends share one retry policy and every attempt's error is
  recorded (Ray's retries are invisible to the caller). Every node needs the same coolpilot
  and dependency versions installed (``pip install "coolpilot[train,cluster]"``).

There is no per-task time limit: a task that hangs holds its worker until it returns.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

BREAK_SETTLE_S = 60.0
"""After a local worker dies, the longest wait (s) for the pool to fail its other running tasks."""

CONNECT_TIMEOUT_S = 10.0
"""The longest wait (s) for a Ray head's port to accept a connection before ``ray.init``."""


@dataclass(frozen=True)
class TaskOutcome(Generic[R]):
    """What became of one task: its value, or its error after every attempt.

    ``attempts`` counts the runs charged to the task (the successful one included); a run
    interrupted by another task's crash is listed in ``errors`` as ``interrupted: ...`` but
    not charged. ``worker`` (``host:pid``) and ``wall_s`` (s) are of the last run.
    """

    key: str
    value: R | None
    error: str | None
    attempts: int
    errors: tuple[str, ...]
    worker: str
    wall_s: float

    @property
    def ok(self) -> bool:
        """True when the task returned a value."""
        return self.error is None


class TaskRunner(Protocol):
    """Runs ``fn`` over keyed items; one outcome per item, in order (see the module docstring)."""

    def map(self, fn: Callable[[T], R], items: Sequence[tuple[str, T]] | Mapping[str, T],
            on_outcome: Callable[[TaskOutcome[R]], None] | None = None) -> list[TaskOutcome[R]]:
        """Run every item; ``on_outcome`` is called in this process as each task settles."""
        ...

    def close(self) -> None:
        """Release the workers (local) or the Ray connection this runner opened."""
        ...

    def abort(self) -> None:
        """Stop at once (interrupted: Ctrl-C, SIGTERM, an error): running tasks are not waited for."""
        ...


@dataclass(frozen=True)
class _Run:
    """What a worker sends back for one run: the value or a formatted error."""

    value: Any
    error: str | None
    trace: str
    worker: str
    wall_s: float


def _execute(fn: Callable[[Any], Any], item: Any, marker: str | None) -> _Run:
    """Worker side: note the start (local backend), call ``fn``, catch and format any exception."""
    worker = f"{socket.gethostname()}:{os.getpid()}"
    if marker is not None:
        Path(marker).write_text(worker, encoding="utf-8")
    start = time.perf_counter()
    try:
        value = fn(item)
    except Exception as err:  # every failure is reported to the caller, never raised in the worker
        return _Run(None, f"{type(err).__name__}: {err}", traceback.format_exc(), worker,
                    time.perf_counter() - start)
    return _Run(value, None, "", worker, time.perf_counter() - start)


@dataclass
class _Task(Generic[T]):
    key: str
    item: T
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    isolated: bool = False
    worker: str = ""
    wall_s: float = 0.0


def _keyed(items: Sequence[tuple[str, T]] | Mapping[str, T]) -> list[_Task[T]]:
    pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
    keys = [k for k, _ in pairs]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise ValueError(f"task keys must be unique; repeated: {', '.join(dupes)}")
    return [_Task(str(k), v) for k, v in pairs]


class _Book(Generic[R]):
    """Attempts, retries and final outcomes: the retry policy both backends share."""

    def __init__(self, tasks: list[_Task[Any]], retries: int,
                 on_outcome: Callable[[TaskOutcome[R]], None] | None) -> None:
        self.tasks = tasks
        self.retries = retries
        self.on_outcome = on_outcome
        self.outcomes: dict[int, TaskOutcome[R]] = {}

    def succeed(self, idx: int, run: _Run) -> None:
        task = self.tasks[idx]
        task.attempts += 1
        self._settle(idx, TaskOutcome(task.key, run.value, None, task.attempts, tuple(task.errors), run.worker,
                                      run.wall_s))

    def fail(self, idx: int, error: str, worker: str = "", wall_s: float = 0.0, trace: str = "") -> bool:
        """Charge a failed attempt; True if the task should run again."""
        task = self.tasks[idx]
        task.attempts += 1
        task.errors.append(error)
        task.worker, task.wall_s = worker or task.worker, wall_s
        if task.attempts <= self.retries:
            log.warning("task %s failed (attempt %d of %d), retrying: %s", task.key, task.attempts,
                        self.retries + 1, error)
            if trace:
                log.debug("task %s traceback:\n%s", task.key, trace)
            return True
        log.error("task %s failed after %d attempt(s): %s%s", task.key, task.attempts, error,
                  f"\n{trace}" if trace else "")
        self._settle(idx, TaskOutcome(task.key, None, error, task.attempts, tuple(task.errors), task.worker,
                                      task.wall_s))
        return False

    def _settle(self, idx: int, outcome: TaskOutcome[R]) -> None:
        self.outcomes[idx] = outcome
        if self.on_outcome is not None:
            self.on_outcome(outcome)

    def results(self) -> list[TaskOutcome[R]]:
        return [self.outcomes[i] for i in range(len(self.tasks))]


class LocalRunner:
    """Tasks in a spawn-context process pool on this machine (see the module docstring)."""

    def __init__(self, max_workers: int | None = None, retries: int = 1) -> None:
        if retries < 0:
            raise ValueError(f"retries = {retries}: give 0 or more")
        self.max_workers = max_workers if max_workers is not None else max(1, os.cpu_count() or 1)
        if self.max_workers < 1:
            raise ValueError(f"max_workers = {self.max_workers}: give 1 or more")
        self.retries = retries
        self._markers = Path(tempfile.mkdtemp(prefix="coolpilot-tasks-"))
        self._pool: ProcessPoolExecutor | None = None
        self._submissions = 0

    def __enter__(self) -> LocalRunner:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def close(self) -> None:
        """Stop the worker processes (waiting for running tasks) and remove the start markers."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        shutil.rmtree(self._markers, ignore_errors=True)

    def abort(self) -> None:
        """Cancel queued tasks and kill the running workers now, instead of waiting for them."""
        pool, self._pool = self._pool, None
        if pool is not None:
            # the executor has no public way to kill its workers before Python 3.14
            processes = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in processes:
                if proc.is_alive():
                    proc.terminate()
            for proc in processes:
                proc.join(timeout=10)
        self.close()

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.max_workers, mp_context=get_context("spawn"))
        return self._pool

    def _discard_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def map(self, fn: Callable[[T], R], items: Sequence[tuple[str, T]] | Mapping[str, T],
            on_outcome: Callable[[TaskOutcome[R]], None] | None = None) -> list[TaskOutcome[R]]:
        """Run every item in the pool; see :class:`TaskRunner`."""
        tasks = _keyed(items)
        book: _Book[R] = _Book(tasks, self.retries, on_outcome)
        queue: deque[int] = deque(range(len(tasks)))
        isolated: deque[int] = deque()
        running: dict[Future[_Run], tuple[int, Path]] = {}

        def submit(source: deque[int]) -> bool:
            """Start the next task of ``source``; False (task put back) if the pool broke meanwhile."""
            idx = source.popleft()
            self._submissions += 1
            marker = self._markers / f"{self._submissions}.started"
            try:
                running[self._executor().submit(_execute, fn, tasks[idx].item, str(marker))] = (idx, marker)
            except BrokenProcessPool:  # a worker died since the last wait: handled with the running tasks
                source.appendleft(idx)
                return False
            return True

        def settle(idx: int, run: _Run) -> None:
            if run.error is None:
                book.succeed(idx, run)
            elif book.fail(idx, run.error, run.worker, run.wall_s, run.trace):
                (isolated if tasks[idx].isolated else queue).append(idx)

        while queue or isolated or running:
            if isolated:
                if not running:
                    submit(isolated)
            else:
                while queue and len(running) < self.max_workers and submit(queue):
                    pass
            if not running:  # the pool broke with nothing running (a worker died idle): start a new one
                self._discard_pool()
                continue
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            if not any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                for f in done:
                    settle(running.pop(f)[0], f.result())
                continue
            wait(running, timeout=BREAK_SETTLE_S)
            self._discard_pool()
            broken: list[tuple[int, bool]] = []
            for f, (idx, marker) in running.items():
                if f.done() and f.exception() is None:
                    settle(idx, f.result())
                else:
                    broken.append((idx, marker.exists()))
            running.clear()
            started = [idx for idx, began in broken if began]
            if started:  # tasks that never began are not suspects and lose no attempt
                queue.extendleft(reversed([idx for idx, began in broken if not began]))
            self._after_break(started or [idx for idx, _ in broken], book, isolated)
        return book.results()

    @staticmethod
    def _after_break(suspects: list[int], book: _Book[Any], isolated: deque[int]) -> None:
        """Charge the crash to the one task that was running, or isolate the suspects uncharged."""
        if len(suspects) == 1:
            idx = suspects[0]
            book.tasks[idx].isolated = True
            if book.fail(idx, "worker died: the process running this task exited abruptly (killed, out of "
                              "memory or crashed); BrokenProcessPool"):
                isolated.append(idx)
            return
        for idx in suspects:
            book.tasks[idx].errors.append("interrupted: a worker of the pool died while this task ran; "
                                          "run again alone")
            isolated.append(idx)


def _check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Refuse a ``HOST:PORT`` (or ``ray://HOST:PORT``) nothing listens on, before ``ray.init`` waits on it."""
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        return  # 'auto', 'local' or a form Ray resolves itself
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as err:
        raise ValueError(f"--ray {address}: no Ray head answers there ({err}); start one with "
                         "'ray start --head' or check the address") from None


class RayRunner:
    """Tasks on a Ray cluster (see the module docstring)."""

    def __init__(self, address: str, retries: int = 1, num_cpus: float = 1.0, num_gpus: float = 0.0,
                 max_in_flight: int | None = None) -> None:
        if retries < 0:
            raise ValueError(f"retries = {retries}: give 0 or more")
        try:
            import ray
        except ImportError:
            raise ValueError("--ray needs Ray: pip install 'coolpilot[cluster]'") from None
        self.retries = retries
        self.max_in_flight = max_in_flight
        self._owns = not ray.is_initialized()
        if self._owns:
            _check_reachable(address)
            try:
                ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
            except (ConnectionError, RuntimeError) as err:
                raise ValueError(f"--ray {address}: cannot connect to a Ray cluster: {err}") from None
        cpus = float(ray.cluster_resources().get("CPU", 0.0))
        if cpus < num_cpus:
            log.warning("the Ray cluster has %.0f CPUs now, a task needs %.1f: tasks wait until nodes join", cpus,
                        num_cpus)
        self._remote = ray.remote(_execute).options(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=0,
                                                   retry_exceptions=False)

    def __enter__(self) -> RayRunner:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def abort(self) -> None:
        """Disconnect now; the cluster cancels the tasks of a departed driver."""
        self.close()

    def close(self) -> None:
        """Disconnect from the cluster if this runner connected (the cluster keeps running)."""
        import ray

        if self._owns and ray.is_initialized():
            ray.shutdown()
        self._owns = False

    def map(self, fn: Callable[[T], R], items: Sequence[tuple[str, T]] | Mapping[str, T],
            on_outcome: Callable[[TaskOutcome[R]], None] | None = None) -> list[TaskOutcome[R]]:
        """Run every item as a Ray task; see :class:`TaskRunner`."""
        import ray
        from ray.exceptions import RayTaskError

        tasks = _keyed(items)
        book: _Book[R] = _Book(tasks, self.retries, on_outcome)
        queue: deque[int] = deque(range(len(tasks)))
        running: dict[Any, int] = {}
        fn_ref = ray.put(fn)
        limit = self.max_in_flight or len(tasks) or 1
        while queue or running:
            while queue and len(running) < limit:
                idx = queue.popleft()
                running[self._remote.remote(fn_ref, tasks[idx].item, None)] = idx
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                idx = running.pop(ref)
                try:
                    run: _Run = ray.get(ref)
                except RayTaskError as err:  # raised outside fn: e.g. the worker cannot import fn's module
                    again = book.fail(idx, f"task error: {str(err).strip().splitlines()[-1]}")
                except ray.exceptions.RayError as err:  # WorkerCrashedError, NodeDiedError, OutOfMemoryError, ...
                    again = book.fail(idx, f"worker died: {type(err).__name__}: {str(err).strip().splitlines()[0]}")
                else:
                    if run.error is None:
                        book.succeed(idx, run)
                        again = False
                    else:
                        again = book.fail(idx, run.error, run.worker, run.wall_s, run.trace)
                if again:
                    queue.append(idx)
        return book.results()


@contextmanager
def open_runner(ray_address: str | None = None, *, max_workers: int | None = None, retries: int = 1,
                num_cpus: float = 1.0, num_gpus: float = 0.0) -> Iterator[TaskRunner]:
    """A :class:`LocalRunner` (``ray_address`` None) or a :class:`RayRunner`, closed on exit.

    ``max_workers``: local processes (default: CPU count), or for Ray the most tasks in
    flight at once (default: all). ``num_cpus``/``num_gpus``: Ray resources per task.
    ``retries``: extra attempts after a task's first failure.
    """
    runner: LocalRunner | RayRunner
    if ray_address is None:
        runner = LocalRunner(max_workers, retries)
    else:
        runner = RayRunner(ray_address, retries, num_cpus, num_gpus, max_workers)
    try:
        yield runner
    except BaseException:
        runner.abort()  # interrupted or failed: do not wait for tasks nobody will collect
        raise
    finally:
        runner.close()


def map_tasks(fn: Callable[[T], R], items: Sequence[tuple[str, T]] | Mapping[str, T], *,
              ray_address: str | None = None, max_workers: int | None = None, retries: int = 1,
              num_cpus: float = 1.0, num_gpus: float = 0.0,
              on_outcome: Callable[[TaskOutcome[R]], None] | None = None) -> list[TaskOutcome[R]]:
    """``fn`` over every ``(key, item)`` on local processes or Ray; one outcome per item, in order.

    See :func:`open_runner` for the arguments and the module docstring for failure handling.
    """
    with open_runner(ray_address, max_workers=max_workers, retries=retries, num_cpus=num_cpus,
                     num_gpus=num_gpus) as runner:
        return runner.map(fn, items, on_outcome)
