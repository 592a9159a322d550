"""Running a graph from the command line (``reelrl demo``, ``reelrl train``) so that Ctrl-C reads well.

The graph runs in a child process with a session of its own, so a terminal's Ctrl-C reaches only the command,
which hands it to the child's main process alone. Dagster stops the run there and records it as failed; the
helpers it and Ray started (log tails and their watchers, Ray's processes, decode workers) are stopped by their
owners instead of each printing a traceback. The child prints one line saying where the run stood.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from reelrl.interrupt import interrupted

DAGSTER_YAML = """# written by reelrl: no onboarding modal, no telemetry
nux:
  enabled: false
telemetry:
  enabled: false
"""

RUNNER_ENV = "REELRL_DEMO_RUNNER"  # set in the child process that runs the graph: the parent's pid


def prepare_dagster_home(home: str | Path) -> Path:
    """A persistent instance under the ReelRL workspace, so `dagster dev` shows the runs:
    ``$DAGSTER_HOME`` when set, else ``<home>/dagster_home``."""
    dh = Path(os.environ.get("DAGSTER_HOME") or Path(home) / "dagster_home").resolve()
    dh.mkdir(parents=True, exist_ok=True)
    if not (dh / "dagster.yaml").exists():
        (dh / "dagster.yaml").write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(dh)
    return dh


def in_runner() -> bool:
    """True in the child process that runs the graph."""
    return os.environ.get(RUNNER_ENV, "").isdigit()


def launch(argv: list[str]) -> int:
    """Run ``reelrl <argv>`` as the graph's runner process and wait for it; Ctrl-C is handed to it."""
    child = subprocess.Popen(
        [sys.executable, "-m", "reelrl.cli", *argv],
        env={**os.environ, RUNNER_ENV: str(os.getpid())},
        start_new_session=True,
    )
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:
            os.kill(child.pid, signal.SIGINT)


def run_graph(body: Callable[[], object], rerun: str) -> int:
    """In the runner: ``body()``; 0 when it finishes, 130 with one line saying where it stood when it was
    interrupted (Ctrl-C, or the command that launched it died). ``rerun`` says how to go on."""
    from pipelines.demo import INTERRUPTIONS, home_instance, stopped_at

    _stop_when_orphaned()
    try:
        body()
    except INTERRUPTIONS:
        where = stopped_at(home_instance()) if os.environ.get("DAGSTER_HOME") else "start-up"
    else:
        return 0
    # what the interrupted step left open (a Ray Data iterator) is closed now, while Ray is still up, not at
    # interpreter exit after Ray's shutdown, where it logs an error with a traceback
    gc.collect()
    return interrupted(
        f"during {where}; {rerun} to go on: what finished is reused (model, data, cached media), the warm "
        "start and training resume from their last checkpoints, evaluation from its saved predictions"
    )


def _stop_when_orphaned() -> None:
    """Stop the run as on Ctrl-C if the command dies without handing one over (killed, or its terminal
    closed): the runner has a session of its own, so nothing else would stop it."""
    parent = int(os.environ[RUNNER_ENV])  # not getppid() now: the parent may be gone already

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()
