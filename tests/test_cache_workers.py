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


def test_the_parents_main_script_is_imported_once_by_the_forkserver_not_by_each_worker(tmp_path):
    """Each process that runs the script's top level appends its pid: the parent, the forkserver, and no
    worker (without ``cache_store._forkserver_main`` every worker start re-ran it)."""
    import subprocess
    import sys
    import textwrap

    log = tmp_path / "imports.txt"
    paths = [
        str(write_video(tmp_path / f"v{i}.mp4", np.full((10, 56, 84, 3), 40 * i, np.uint8), 10))
        for i in range(3)
    ]
    script = tmp_path / "main_script.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os
            with open({str(log)!r}, "a") as fh:
                fh.write(f"{{__name__}} {{os.getpid()}}\\n")

            from cache_store.workers import DecodePool, Task
            from cache_store import MediaSpec

            if __name__ == "__main__":
                spec = MediaSpec(min_pixels=4 * 28 * 28, max_pixels=16 * 28 * 28)
                for _ in range(2):  # two pools: the second starts fresh workers from the running server
                    with DecodePool(spec, workers=2) as pool:
                        results = list(pool.run([Task(str(i), p, "video") for i, p in enumerate({paths!r})]))
                        assert all(r.media is not None for r in results), results
                        workers = {{s.proc.pid for s in pool._slots}}
                with open({str(log)!r}, "a") as fh:
                    fh.write(f"workers {{len(workers)}}\\n")
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "CACHE_STORE_FORKSERVER_MAIN"}
    subprocess.run([sys.executable, str(script)], check=True, timeout=180, env=env, cwd=tmp_path)
    lines = log.read_text().split("\n")
    assert [line.split()[0] for line in lines if line] == ["__main__", "__mp_main__", "workers"]
    assert lines[-2] == "workers 2"
