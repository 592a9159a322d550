"""DecodePool: a worker that dies mid-item is reported (after the PyAV retry) and replaced."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

from cache_store import MediaSpec, write_video
from cache_store.workers import DecodePool, Task

SPEC = MediaSpec(min_pixels=4 * 28 * 28, max_pixels=16 * 28 * 28)


def test_pool_arguments_are_checked():
    with pytest.raises(ValueError, match="workers"):
        DecodePool(SPEC, workers=0)
    with pytest.raises(ValueError, match="timeout_s"):
        DecodePool(SPEC, timeout_s=0)


def test_killed_worker_is_retried_with_pyav_then_reported(tmp_path):
    fifo = str(tmp_path / "stuck.mp4")
    os.mkfifo(fifo)  # blocks the worker in open() until it is killed
    good = str(write_video(tmp_path / "ok.mp4", np.zeros((20, 56, 84, 3), np.uint8), 10))
    pool = DecodePool(SPEC, workers=1, timeout_s=60)
    killed: list[str] = []
    done = threading.Event()

    def kill_stuck_workers():  # an external SIGKILL stands in for a segfault or the OOM killer
        deadline = time.monotonic() + 60
        while not done.is_set() and len(killed) < 2 and time.monotonic() < deadline:
            for slot in list(pool._slots):
                task = slot.task
                if task is not None and task.source == fifo and slot.proc.is_alive():
                    time.sleep(0.2)  # let it block inside decode
                    os.kill(slot.proc.pid, signal.SIGKILL)
                    killed.append(task.backend)
                    while slot.proc.is_alive():
                        time.sleep(0.01)
            time.sleep(0.02)

    killer = threading.Thread(target=kill_stuck_workers, daemon=True)
    killer.start()
    with pool:
        results = {r.task.key: r for r in pool.run([Task("stuck", fifo, "video"), Task("ok", good, "video")])}
    done.set()
    killer.join(5)
    assert killed == ["auto", "pyav"]
    assert results["stuck"].error == "WorkerCrashed" and fifo in results["stuck"].message
    assert results["ok"].media is not None and results["ok"].media.frames.shape == (4, 56, 84, 3)
