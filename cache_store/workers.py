"""Killable decode workers with a per-item timeout.

Why processes: decord's ``get_batch`` can hang forever holding the GIL (dmlc/decord#373, #269) and leaks
memory, so a decode must run where the parent can kill it. Why not ``ProcessPoolExecutor``: it cannot kill
one stuck worker, only break the whole pool. So each worker here is one process with its own pipe; the
parent sends it one task at a time, waits on all pipes and process sentinels with the nearest deadline, and
on a timeout kills exactly that worker and starts a fresh one on demand.

Start method: ``forkserver`` with ``cache_store.decode`` preloaded. Like ``spawn`` it never forks the parent
(Lance and Ray threads are not fork-safe); unlike ``spawn`` the torch/decord/PyAV imports (~3 s here) are
paid once per parent process instead of once per worker. The parent's main script is imported once in the
server too (``cache_store._forkserver_main``), not at every worker start.

A video that times out or kills its worker under decord is retried once with PyAV in a fresh worker before
it is recorded as failed (decord's hangs are decord bugs; PyAV counts decodable frames itself).

A builder killed with SIGKILL cannot stop its workers. An idle worker sees its pipe close and exits, but
one stuck inside a decode would live on, and it keeps the forkserver alive too (every forkserver child holds
the server's "alive" pipe). So each worker runs a watchdog thread blocked on a *lifeline* pipe whose only
writer is the pool; when the builder dies the kernel closes that end and the watchdog SIGKILLs its worker.
The blocked read releases the GIL, and decord's and PyAV's C calls release it too (decord calls through
``ctypes.CDLL``), so the watchdog runs even while a decode hangs.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from multiprocessing import spawn
from multiprocessing.connection import wait
from typing import Self

from .errors import DecodeTimeout, WorkerCrashed
from .keys import MediaSpec
from .types import CachedMedia

START_METHOD = "forkserver"
MAIN_ENV = "CACHE_STORE_FORKSERVER_MAIN"  # the parent's main module, for cache_store._forkserver_main


def _parent_main() -> str:
    """``"name:<module>"`` or ``"path:<script>"`` of this process's main module, as spawn would send it."""
    data = spawn.get_preparation_data("ignore")
    if "init_main_from_name" in data:
        return f"name:{data['init_main_from_name']}"
    if "init_main_from_path" in data:
        return f"path:{data['init_main_from_path']}"
    return ""


STARTUP_TIMEOUT_S = 300.0  # importing torch on a loaded 2-core machine can take tens of seconds


@dataclass(frozen=True)
class Task:
    """One decode request; ``key`` is the caller's handle (the cache digest)."""

    key: str
    source: str
    kind: str
    backend: str = "auto"


@dataclass
class Result:
    """``media`` on success, else ``error`` (exception class name) and ``message``."""

    task: Task
    media: CachedMedia | None = None
    error: str | None = None
    message: str | None = None


def _watch(lifeline) -> None:
    """Block until the pool's end of the lifeline closes (the builder exited or died), then die."""
    try:
        lifeline.recv()
    except (EOFError, OSError):
        pass
    os.kill(os.getpid(), signal.SIGKILL)


def _worker_main(conn, lifeline, spec: MediaSpec) -> None:  # runs in the child process
    # Ctrl-C reaches the whole process group: the builder decides what it means and closes its pool, so a
    # worker neither dies mid-task nor prints a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch, args=(lifeline,), daemon=True, name="lifeline").start()
    import torch

    from . import decode  # already imported when the forkserver preload worked

    # One intra-op thread per worker, as torch's DataLoader workers do: parallelism comes from the number of
    # workers, and N workers x all-cores threads would oversubscribe the machine.
    torch.set_num_threads(1)

    conn.send(("ready",))
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        try:
            media = decode.decode(task.source, task.kind, spec, task.backend)
            conn.send(("ok", media))
        except Exception as exc:  # noqa: BLE001 - one bad item must never end the worker
            message = str(exc) if task.source in str(exc) else f"{task.source}: {exc}"
            conn.send(("err", type(exc).__name__, message))


def _died(slot: _Slot) -> str:
    slot.proc.join(1)
    return f"decode worker died (exit code {slot.proc.exitcode})"


class _Slot:
    def __init__(self, ctx, spec: MediaSpec, lifeline):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, lifeline, spec), daemon=True)
        self.proc.start()
        child.close()
        self.ready = False
        self.task: Task | None = None
        self.deadline = time.monotonic() + STARTUP_TIMEOUT_S

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.proc.join(2)
        self.kill()


class DecodePool:
    """At most ``workers`` decode processes, started lazily; use as a context manager."""

    def __init__(
        self, spec: MediaSpec, workers: int = 1, timeout_s: float = 120.0, start_method: str = START_METHOD
    ):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.spec, self.workers, self.timeout_s = spec, workers, timeout_s
        self._ctx = mp.get_context(start_method)
        if start_method == "forkserver":
            os.environ.setdefault(MAIN_ENV, _parent_main())  # read by the server when it starts
            self._ctx.set_forkserver_preload(["cache_store._forkserver_main", "cache_store.decode"])
        self._slots: list[_Slot] = []
        self._lifeline: tuple | None = None  # (read end for workers, write end held here), while slots run

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for slot in self._slots:
            slot.stop()
        self._slots.clear()
        if self._lifeline is not None:
            for end in self._lifeline:
                end.close()
            self._lifeline = None

    def _start_slot(self) -> _Slot:
        if self._lifeline is None:
            self._lifeline = self._ctx.Pipe(duplex=False)
        slot = _Slot(self._ctx, self.spec, self._lifeline[0])
        self._slots.append(slot)
        return slot

    def _assign(self, slot: _Slot, task: Task, pending: deque[Task]) -> None:
        try:
            slot.conn.send(task)
        except OSError:  # the idle worker died since its last result: replace it, keep the task
            slot.kill()
            self._slots.remove(slot)
            pending.appendleft(task)
            return
        slot.task = task
        slot.deadline = time.monotonic() + self.timeout_s

    def _lost(self, slot: _Slot, error: str, why: str, pending: deque[Task]) -> Result | None:
        """A worker hung or died: kill it; retry a decord video with PyAV, else report the failure."""
        task = slot.task
        slot.kill()
        self._slots.remove(slot)
        if task is None:
            raise RuntimeError(
                f"decode worker failed to start ({why}): check that torch, decord and av import, and that a "
                "script calling build() guards its entry point with `if __name__ == '__main__':`"
            )
        if task.kind == "video" and task.backend == "auto":
            pending.appendleft(Task(task.key, task.source, task.kind, backend="pyav"))
            return None
        tried = " (decord, then PyAV)" if task.backend == "pyav" else ""
        return Result(
            task,
            error=error,
            message=f"{task.source}: {why}{tried}; re-encode it or drop it from the dataset",
        )

    def run(self, tasks: Iterable[Task]) -> Iterator[Result]:
        """Decode ``tasks``, yielding one ``Result`` per task in completion order."""
        pending = deque(tasks)
        while pending or any(s.task is not None for s in self._slots):
            free = [s for s in self._slots if s.task is None]
            while len(pending) > len(free) and len(self._slots) < self.workers:
                free.append(self._start_slot())
            for slot in free:
                if slot.ready and pending:
                    self._assign(slot, pending.popleft(), pending)
            waiting = [s for s in self._slots if s.task is not None or not s.ready]
            if not waiting:
                continue
            timeout = max(0.0, min(s.deadline for s in waiting) - time.monotonic())
            ready = set(wait([s.conn for s in waiting] + [s.proc.sentinel for s in waiting], timeout))
            for slot in waiting:
                if slot.conn in ready:
                    try:
                        msg = slot.conn.recv()
                    except (EOFError, OSError):
                        msg = None
                    if msg is None:
                        result = self._lost(slot, WorkerCrashed.__name__, _died(slot), pending)
                    elif msg[0] == "ready":
                        slot.ready, result = True, None
                    else:
                        task, slot.task = slot.task, None
                        result = (
                            Result(task, media=msg[1])
                            if msg[0] == "ok"
                            else Result(task, error=msg[1], message=msg[2])
                        )
                elif slot.proc.sentinel in ready:
                    result = self._lost(slot, WorkerCrashed.__name__, _died(slot), pending)
                elif time.monotonic() >= slot.deadline:
                    why = f"decode timed out after {self.timeout_s:g} s" if slot.task else "startup timed out"
                    result = self._lost(slot, DecodeTimeout.__name__, why, pending)
                else:
                    result = None
                if result is not None:
                    yield result
