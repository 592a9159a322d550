"""`dagster dev` (the real webserver and daemon) serves the ReelRL graph from workspace.yaml. Launching and
materializing it through GraphQL, and the browser, are in test_ui_lineage.py (slow)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipelines.definitions import ALL_ASSETS

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gql(port: int, query: str, variables: dict | None = None) -> dict:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        body = json.loads(resp.read())
    assert "errors" not in body, body
    return body["data"]


def _serving(port: int, proc: subprocess.Popen, seconds: float) -> bool:
    """Whether the webserver on ``port`` answers within ``seconds`` (False as soon as ``proc`` exits)."""
    deadline = time.time() + seconds
    while time.time() < deadline and proc.poll() is None:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
            return True
        except OSError:
            time.sleep(1)
    return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "REELRL_HOME": str(home / "reelrl")}
    exe = Path(sys.executable).with_name("dagster")
    # `dagster dev` = webserver + daemon (the daemon dequeues launched runs), as the README says to run it.
    # Own session, so the whole process group can be stopped (FIELD_NOTES).
    proc = subprocess.Popen(
        [str(exe), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    if not _serving(port, proc, 300):  # a loaded 2-core machine loads the code location slowly
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("dagster-webserver did not come up within 300 s")
    yield port
    _stop(proc)


def test_webserver_serves_the_asset_graph(webserver):
    data = _gql(webserver, "{ assetNodes { assetKey { path } dependencyKeys { path } } }")
    nodes = {
        n["assetKey"]["path"][0]: {d["path"][0] for d in n["dependencyKeys"]} for n in data["assetNodes"]
    }
    assert set(nodes) == {k.to_user_string() for a in ALL_ASSETS for k in a.keys}  # exactly what Definitions holds
    assert nodes["training_run"] == {"sft_warm_start", "media_cache", "filtered_train_set"}
    assert nodes["filtered_train_set"] == {"media_cache", "rollout_pass_rates"}


@pytest.mark.slow  # ~60 s on 2 cores; test_cli.py checks the same instance folder in a second
def test_reelrl_ui_starts_without_dagster_home(tmp_path):
    """`reelrl ui` with no DAGSTER_HOME uses the demo's instance folder under --home and serves the UI."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "reelrl.cli", "ui", "--home", str(tmp_path / "home"), "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        if not _serving(port, proc, 300):  # a loaded 2-core machine loads the code location slowly
            out = proc.stdout.read() if proc.poll() is not None else ""
            pytest.fail(f"`reelrl ui` did not serve within 120 s (exit {proc.poll()}):\n{out}")
    finally:
        _stop(proc)
    assert (tmp_path / "home" / "dagster_home" / "dagster.yaml").is_file()
    assert str(tmp_path / "home" / "dagster_home") in proc.stdout.read()
