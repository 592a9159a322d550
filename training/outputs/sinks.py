"""Metric sinks for a training run behind one small class: console, JSONL, TensorBoard, MLflow, W&B.

``Tracker(out_dir, backends, run_name, config).log(metrics, step)`` sends one step's metrics to every
named backend. Resume-aware:

- ``metrics.jsonl`` is appended to, one object per step, flushed each step. A run resumed from a
  checkpoint re-runs (and re-logs) the steps after it, so ``read_metrics`` keeps the last record per step.
  A line torn by ``kill -9`` is closed with a newline before appending, and skipped when read.
- TensorBoard gets ``purge_step = start_step + 1``, so events the crashed run wrote after the checkpoint
  it resumes from are hidden (TensorBoard's own orphaned-data purge).
- The console's rate and ETA come from the steps this process ran.

MLflow and W&B are optional: they are imported only when named, and a missing package is an error at
construction, not at the first ``log``.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import numbers
import os
import sys
import time
from pathlib import Path
from typing import IO, Protocol, Self

from training.loop.timing import PREFIX as TIMING_PREFIX
from training.loop.timing import STEP_PHASES

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"
DEFAULT_BACKENDS = ("console", "jsonl", "tensorboard")
# Shown on the console line when present, in this order; otherwise the first few numeric metrics.
CONSOLE_KEYS = (
    "reward/overall",
    "reward/accuracy",
    "actor/pg_loss",
    "actor/kl_loss",
    "loss",
    "actor/grad_norm",
    "actor/lr",
    "response_length/mean",
)


def scalar(value) -> float | None:
    """``value`` as a float when it is one number (Python, numpy or a one-element tensor), else None."""
    if isinstance(value, numbers.Real):
        return float(value)
    if hasattr(value, "item") and math.prod(getattr(value, "shape", (0,))) == 1:  # tensor / ndarray
        out = value.item()
        return float(out) if isinstance(out, numbers.Real) else None
    return None


def _jsonable(value):
    """A metric value as JSON: numbers stay numbers (NaN as Python's json writes it), arrays as lists."""
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    number = scalar(value)
    if number is not None:
        return number
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) else value


class Sink(Protocol):
    def log(self, metrics: dict, step: int) -> None: ...
    def close(self) -> None: ...


def timing_text(timing: dict[str, float]) -> str:
    """A step's ``timing_s/*`` as ``time 1.23s (data_wait 0.01, gen 0.80, …)``: the step, then each phase in
    step order (``training.loop.timing.STEP_PHASES``, any other after them)."""
    phases = {k.removeprefix(TIMING_PREFIX): v for k, v in timing.items()}
    total = phases.pop("step", None)
    order = [p for p in STEP_PHASES if p in phases] + sorted(p for p in phases if p not in STEP_PHASES)
    inner = ", ".join(f"{p} {phases[p]:.2f}" for p in order)
    head = f"time {total:.2f}s" if total is not None else "time"
    return f"{head} ({inner})" if inner else head


class ConsoleSink:
    """One compact line per step: ``step 3/10 | reward/overall 0.512 | ... | time 1.18s (data_wait 0.00, gen
    0.71, …) | 1.20 s/step | eta 00:00:08`` (the ``time`` part: the step's ``timing_s/*``, when logged).

    The rate is wall time per step between the first step this process logged and the current one.
    """

    def __init__(self, total_steps: int | None = None, stream: IO[str] | None = None, max_keys: int = 6):
        self.total_steps, self.stream, self.max_keys = total_steps, stream, max_keys
        self.first: tuple[int, float] | None = None  # (step, time) of the first line

    def line(self, metrics: dict, step: int, now: float) -> str:
        numeric = {k: v for k, v in ((k, scalar(v)) for k, v in metrics.items()) if v is not None}
        timing = {k: v for k, v in numeric.items() if k.startswith(TIMING_PREFIX)}
        keys = [k for k in CONSOLE_KEYS if k in numeric] or [
            k for k in numeric if k != "step" and k not in timing
        ]
        parts = [f"step {step}" + (f"/{self.total_steps}" if self.total_steps else "")]
        parts += [f"{k} {numeric[k]:.4g}" for k in keys[: self.max_keys]]
        if timing:
            parts.append(timing_text(timing))
        if self.first is not None and step > self.first[0]:
            per_step = (now - self.first[1]) / (step - self.first[0])
            parts.append(f"{per_step:.2f} s/step")
            if self.total_steps:
                remaining = max(0, self.total_steps - step) * per_step
                parts.append(f"eta {time.strftime('%H:%M:%S', time.gmtime(remaining))}")
        return " | ".join(parts)

    def log(self, metrics: dict, step: int) -> None:
        now = time.perf_counter()
        print(self.line(metrics, step, now), file=self.stream or sys.stdout, flush=True)
        if self.first is None:
            self.first = (step, now)

    def close(self) -> None:
        pass


class JsonlSink:
    """Appends ``{"step": step, **metrics}`` to ``out_dir/metrics.jsonl``, flushed every step."""

    def __init__(self, out_dir: Path):
        self.path = out_dir / METRICS_FILE
        self.fh = open(self.path, "a+b")  # noqa: SIM115 - held open for the run, closed in close()
        # a kill mid-write left half a line: end it so the next record starts on its own line
        if self.fh.tell() > 0 and self._last_byte() != b"\n":
            self.fh.write(b"\n")

    def _last_byte(self) -> bytes:
        self.fh.seek(-1, os.SEEK_END)
        return self.fh.read(1)  # appends still go to the end ("a" mode), wherever the position is

    def log(self, metrics: dict, step: int) -> None:
        record = {"step": step} | {k: _jsonable(v) for k, v in metrics.items() if k != "step"}
        self.fh.write((json.dumps(record, default=str) + "\n").encode())
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()


class TensorBoardSink:
    """Numeric metrics as scalars under ``out_dir/tensorboard``; the run config once, as JSON text."""

    def __init__(self, out_dir: Path, config: dict | None, start_step: int):
        from torch.utils.tensorboard import SummaryWriter

        purge = start_step + 1 if start_step > 0 else None
        self.writer = SummaryWriter(log_dir=str(out_dir / TENSORBOARD_DIR), purge_step=purge)
        if config:
            text = json.dumps(config, indent=2, sort_keys=True, default=str)
            self.writer.add_text("config", f"```\n{text}\n```", global_step=start_step)

    def log(self, metrics: dict, step: int) -> None:
        for key, value in metrics.items():
            number = scalar(value)
            if number is not None and key != "step":
                self.writer.add_scalar(key, number, global_step=step)
        self.writer.flush()  # a killed run keeps every step it logged

    def close(self) -> None:
        self.writer.close()


def _flatten(config: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        out.update(_flatten(value, f"{name}.") if isinstance(value, dict) else {name: value})
    return out


def _require(package: str, backend: str):
    """Import an optional backend's package, or fail naming it (at construction, not at the first log)."""
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise ImportError(
            f"tracker backend {backend!r} needs the {package!r} package, which is not importable "
            f"({exc}); install it (pip install {package}) or drop {backend!r} from the backends"
        ) from exc


class MlflowSink:
    """An MLflow run (tracking URI from ``MLFLOW_TRACKING_URI``, as MLflow itself decides)."""

    def __init__(self, run_name: str | None, config: dict | None):
        self.mlflow = _require("mlflow", "mlflow")
        self.mlflow.start_run(run_name=run_name)
        if config:
            self.mlflow.log_params({k: str(v) for k, v in _flatten(config).items()})

    def log(self, metrics: dict, step: int) -> None:
        numeric = {k: scalar(v) for k, v in metrics.items() if k != "step"}
        self.mlflow.log_metrics({k: v for k, v in numeric.items() if v is not None}, step=step)

    def close(self) -> None:
        self.mlflow.end_run()


class WandbSink:
    """A Weights & Biases run in project ``project`` with the run config; files under ``out_dir``."""

    def __init__(self, out_dir: Path, project: str, run_name: str | None, config: dict | None):
        wandb = _require("wandb", "wandb")
        self.run = wandb.init(project=project, name=run_name, config=config or {}, dir=str(out_dir))

    def log(self, metrics: dict, step: int) -> None:
        numeric = {k: scalar(v) for k, v in metrics.items() if k != "step"}
        self.run.log({k: v for k, v in numeric.items() if v is not None}, step=step)

    def close(self) -> None:
        self.run.finish()


BACKENDS = ("console", "jsonl", "tensorboard", "mlflow", "wandb")


class Tracker:
    """Send each step's metrics to every backend in ``backends`` (any of ``BACKENDS``).

    ``start_step`` is the last step already done (the resumed checkpoint's ``global_step``; 0 for a fresh
    run): TensorBoard hides the events the crashed run logged after it.
    ``total_steps`` adds rate and ETA to the console line. ``project`` names the W&B project.
    """

    def __init__(
        self,
        out_dir: str | Path,
        backends: tuple[str, ...] | list[str] = DEFAULT_BACKENDS,
        run_name: str | None = None,
        config: dict | None = None,
        *,
        total_steps: int | None = None,
        start_step: int = 0,
        project: str = "reelrl",
        stream: IO[str] | None = None,
    ):
        unknown = [b for b in backends if b not in BACKENDS]
        if unknown:
            raise ValueError(f"unknown tracker backend(s) {unknown}; allowed: {list(BACKENDS)}")
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        factories = {
            "console": lambda: ConsoleSink(total_steps, stream),
            "jsonl": lambda: JsonlSink(self.out_dir),
            "tensorboard": lambda: TensorBoardSink(self.out_dir, config, start_step),
            "mlflow": lambda: MlflowSink(run_name, config),
            "wandb": lambda: WandbSink(self.out_dir, project, run_name, config),
        }
        self.sinks: dict[str, Sink] = {}
        try:
            for name in dict.fromkeys(backends):  # order kept, duplicates dropped
                self.sinks[name] = factories[name]()
        except BaseException:
            self.close()
            raise

    def log(self, metrics: dict, step: int) -> None:
        """Record ``metrics`` for training step ``step`` in every backend."""
        for sink in self.sinks.values():
            sink.log(metrics, step)

    def close(self) -> None:
        """Flush and close every backend; safe to call twice."""
        for sink in self.sinks.values():
            sink.close()
        self.sinks = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_metrics(path: str | Path) -> list[dict]:
    """The records of a ``metrics.jsonl`` (or a directory holding one), the last per step, by step.

    A resumed run re-logs the steps between its checkpoint and the crash; the later record is the one on
    the continued trajectory, so it wins. Unparseable lines (a write torn by ``kill -9``) are skipped.
    """
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    by_step: dict[int, dict] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            log.warning("%s:%d: skipping a torn or invalid line", path, number)
            continue
        by_step[int(record["step"])] = record
    return [by_step[step] for step in sorted(by_step)]
