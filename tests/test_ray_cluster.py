"""A real two-node Ray cluster on this machine: ``ray start --head`` (resource ``node_a``) and a second
``ray start --address`` (``node_b``), one CPU each, token auth on, every port and the temp dir chosen here so
it cannot meet another Ray on the machine. ``REELRL_RAY_ADDRESS`` points at the head; the Dagster
``training_run`` asset (through the code location's ``ray`` resource) trains on two Ray Train workers, which
one CPU per node puts on different nodes, reading a cache both nodes see (a local folder: one machine). The
second node is killed once the first checkpoint is written: the run fails naming the checkpoint to resume
from, and after the node is back a rerun resumes from it. Every process the test starts is killed at the
end, pass or fail."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from cache_store import MediaCache, MediaSpec, write_video
from training.data.stream import write_prepared
from training.outputs.checkpoint import checkpoint_root, find_resume, list_checkpoints

ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))
STEPS = 3
DRIVER_TIMEOUT_S = 900


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """``ray start --block`` processes (one per node), each in its own session; ``kill`` ends a node's whole
    process tree (raylet, agents, workers), ``close`` every node and anything left under the temp dir."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.temp = tempfile.mkdtemp(prefix="rrc", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: dict[str, subprocess.Popen] = {}
        self.trees: dict[str, set[int]] = {}
        self.log: dict[str, Path] = {}
        self.starts = 0

    def start(self, name: str) -> None:
        ports = [
            f"--{flag}={free_port()}"
            for flag in ("node-manager-port", "object-manager-port", "runtime-env-agent-port",
                         "dashboard-agent-grpc-port", "dashboard-agent-listen-port", "metrics-export-port")
        ]  # fmt: skip
        low = free_port()
        if name == "node_a":  # the head
            role = ["--head", f"--port={self.port}", f"--temp-dir={self.temp}", "--include-dashboard=false",
                    f"--dashboard-port={free_port()}", f"--ray-client-server-port={free_port()}"]  # fmt: skip
        else:
            role = [f"--address={self.address}"]
        cmd = [RAY, "start", "--block", *role, *ports, f"--min-worker-port={low}", f"--max-worker-port={low + 40}",
               "--num-cpus=1", f"--resources={json.dumps({name: 1})}", "--object-store-memory=100000000",
               "--disable-usage-stats"]  # fmt: skip
        self.starts += 1
        self.log[name] = Path(self.temp) / f"{name}.{self.starts}.log"  # a fresh log for each start
        with open(self.log[name], "wb") as log:  # the child keeps its own descriptor
            self.nodes[name] = subprocess.Popen(
                cmd, env=self.env, stdout=log, stderr=log, start_new_session=True
            )
        self.trees[name] = {self.nodes[name].pid}

    def up(self, name: str, tries: int = 3, timeout: float = 300) -> None:
        """Start node ``name`` and wait until ``ray start`` reports it registered ("Ray runtime started"). On a
        loaded machine a raylet can miss Ray's fixed 30 s start-up wait, and ``ray start`` exits: then its
        processes are killed and it is started again (a head on a fresh port), ``tries`` times in all."""
        for attempt in range(1, tries + 1):
            if name == "node_a":
                self.port = free_port()
                self.address = f"127.0.0.1:{self.port}"
            self.start(name)
            log, proc = self.log[name], self.nodes[name]
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and proc.poll() is None:
                self._track()
                if "Ray runtime started" in log.read_text(errors="replace"):
                    return
                time.sleep(1)
            self.kill(name)
            if attempt == tries:
                raise RuntimeError(
                    f"ray start of {name} failed {tries} times; logs in {self.temp}:\n{self.logs()}"
                )

    def _track(self) -> None:
        """Remember every process each node has started so far (workers start their own sessions)."""
        for name, proc in self.nodes.items():
            try:
                self.trees[name] |= {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
            except psutil.NoSuchProcess:
                pass

    def kill(self, name: str) -> None:
        self._track()
        for pid in self.trees.pop(name, set()):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.nodes.pop(name).wait(timeout=30)

    def close(self) -> None:
        for name in list(self.nodes):
            self.kill(name)
        for proc in psutil.process_iter(["cmdline"]):  # anything else that names our temp dir
            try:
                if self.temp in " ".join(proc.info["cmdline"] or []):
                    proc.kill()
            except psutil.Error:
                pass

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in Path(self.temp).glob("*.log")
        )


@pytest.fixture
def cluster():
    env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16), RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1",
               RAY_health_check_period_ms="1000", RAY_health_check_failure_threshold="3",
               RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S="600",  # worker start-up on a loaded 2-core machine
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))  # fmt: skip
    env.pop("RAY_ADDRESS", None)
    c = Cluster(env)
    try:
        yield c
    finally:
        c.close()
        shutil.rmtree(c.temp, ignore_errors=True)


def training_inputs(tmp_path: Path) -> dict:
    from demo_kit.tiny_models import build_tiny_model

    frames = [np.full((4, 56, 56, 3), 40 * (i + 1), np.uint8) for i in range(4)]
    paths = [write_video(tmp_path / f"v{i}.mp4", f, fps=4) for i, f in enumerate(frames)]
    cache = MediaCache(str(tmp_path / "cache"))
    spec = MediaSpec(fps=2.0, max_frames=4, max_pixels=56 * 56, min_pixels=28 * 28)
    report = cache.build([(str(p), "video") for p in paths], spec)
    rows = [
        {"sample_id": f"s{i}", "problem": "Is there a red square?", "problem_type": "boolean", "data_type": "video",
         "answer": "yes", "media": [{"source": str(p), "kind": "video", "digest": report.digests[str(p)]}]}
        for i, p in enumerate(paths)
    ]  # fmt: skip
    config = {
        "worker": {"rollout": {"n": 2, "max_new_tokens": 4}, "actor": {"lr": 1e-3}},
        "data": {"rollout_batch_size": 2},
        "trainer": {"total_steps": STEPS, "save_freq": 1, "logger": ["jsonl"]},
    }
    return {
        "home": str(tmp_path / "home"),
        "model": str(build_tiny_model("qwen2_vl", tmp_path / "model", seed=0)),
        "cache": str(tmp_path / "cache"),
        "rows": str(write_prepared(rows, tmp_path / "rows.jsonl")),
        "spec": spec.to_dict(),
        "config": config,
    }


def run_driver(job: Path, env: dict, on_start=None) -> tuple[int, str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "ray_cluster_driver.py"), str(job)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    try:
        if on_start:
            on_start()
        out, _ = proc.communicate(timeout=DRIVER_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, out


def marked(out: str, tag: str) -> str:
    lines = [ln[len(tag) + 1 :] for ln in out.splitlines() if ln.startswith(tag + " ")]
    assert lines, f"no {tag} line in the driver's output:\n{out[-4000:]}"
    return lines[-1]


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_two_node_cluster_run_fails_when_a_node_dies_and_the_rerun_resumes(cluster, tmp_path):
    job_args = training_inputs(tmp_path)
    job = tmp_path / "job.json"
    job.write_text(json.dumps(job_args))
    cluster.up("node_a")
    cluster.up("node_b")
    env = dict(cluster.env, REELRL_RAY_ADDRESS=cluster.address)  # the head's, once it is up
    runs = Path(job_args["home"]) / "runs" / "grpo"

    killed: list[int] = []

    def kill_b_after_first_checkpoint():
        def watch():
            deadline = time.monotonic() + 280
            while time.monotonic() < deadline:
                found = [find_resume(checkpoint_root(d)) for d in runs.glob("*")] if runs.exists() else []
                if any(found):
                    cluster.kill("node_b")
                    killed.append(int(found[0].name.rsplit("_", 1)[1]) if found[0] else -1)
                    return
                cluster._track()
                time.sleep(0.2)

        threading.Thread(target=watch, daemon=True).start()

    code, out = run_driver(job, env, kill_b_after_first_checkpoint)
    assert killed, f"no checkpoint appeared before the run ended (exit {code}):\n{out[-4000:]}"
    assert code == 1, out[-4000:]
    error = marked(out, "ERROR")
    (run_dir,) = runs.glob("*")
    newest = find_resume(checkpoint_root(run_dir))
    assert "the Ray Train run in" in error and "failed" in error, error
    assert f"its newest checkpoint is {newest}: run again" in error, error
    resume_step = int(newest.name.rsplit("_", 1)[1])
    assert 1 <= resume_step < STEPS
    kept = {p.name: p.stat().st_mtime_ns for p in newest.rglob("*") if p.is_file()}

    cluster.up("node_b")
    code, out = run_driver(job, env)
    assert code == 0, out[-4000:]
    result = json.loads(marked(out, "RESULT"))
    assert result["steps"] == STEPS and result["resumed_from_step"] == resume_step
    # the two ranks ran on the two nodes (one CPU each): placement read back through Ray's node ids
    nodes = json.loads(marked(out, "NODES"))  # node id -> its resources, as the driver saw them
    assert sorted(next(r for r in nodes[n] if r.startswith("node_")) for n in result["worker_nodes"]) == [
        "node_a", "node_b"]  # fmt: skip
    assert [s for s, _ in list_checkpoints(checkpoint_root(run_dir))][-1] == STEPS
    # the rerun started from the checkpoint (it did not redo the steps before it)
    assert {p.name: p.stat().st_mtime_ns for p in newest.rglob("*") if p.is_file()} == kept
