"""The README's "done when", end to end in a real browser: `dagster dev` serves the graph; the demo graph
is materialized through GraphQL; the `new_checkpoints` sensor, switched on, evaluates a checkpoint
dropped into a watched folder; the cache asset's page shows its lineage; invalidating a cache row marks
the downstream assets stale, in GraphQL and on the rendered pages (headless Chromium, screenshots).

Slow (about 5 minutes on 2 cores). Browser handling as in test_ui.py.
"""

from __future__ import annotations

import json
import shutil
import time

import pytest
from test_ui import assert_real_screenshot
from ui_browser import Browser, free_port, gql, require_browser, start_dagster, stop_dagster

from evaluation.checkpoint_discovery import checkpoint_name
from pipelines.demo import MINIMAL_OPS, run_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPO = {"repositoryLocationName": "reelrl", "repositoryName": "__repository__"}
# one cell per checkpoint, two runs at a time: the sensor also finds the demo's own checkpoints
COORDINATOR = """run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 2
"""
LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
    __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""


def launch(port: int, job: str, config: dict) -> str:
    params = {"selector": {**REPO, "jobName": job}, "runConfigData": config}
    out = gql(port, LAUNCH, {"p": params})["launchRun"]
    assert out["__typename"] == "LaunchRunSuccess", out
    return out["run"]["runId"]


def wait_run(port: int, run_id: str, timeout: float = 600) -> None:
    deadline, status = time.time() + timeout, None
    while time.time() < deadline:
        status = gql(port, f'{{ runOrError(runId: "{run_id}") {{ ... on Run {{ status }} }} }}')[
            "runOrError"
        ]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(3)
    assert status == "SUCCESS", f"run {run_id} ended as {status}"


def stale_status(port: int, key: str) -> tuple[str, list[str]]:
    q = "query($k: [AssetKeyInput!]) { assetNodes(assetKeys: $k) { staleStatus staleCauses { reason } } }"
    node = gql(port, q, {"k": [{"path": [key]}]})["assetNodes"][0]
    return node["staleStatus"], [c["reason"] for c in node["staleCauses"]]


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    chromium, chromedriver = require_browser()
    root = tmp_path_factory.mktemp("ui_lineage")
    watch = root / "watch"
    watch.mkdir()
    port = free_port()
    env = {
        "REELRL_HOME": str(root / "reelrl"),
        "REELRL_WATCH_DIRS": str(watch),
        "REELRL_BENCHMARKS": "reelrl_jsonl",
    }
    proc = start_dagster(root / "dagster_home", port, env, extra_yaml=COORDINATOR)
    try:
        with Browser(root / "shots", chromium=chromium, chromedriver=chromedriver) as browser:
            yield {
                "port": port,
                "url": f"http://127.0.0.1:{port}",
                "root": root,
                "watch": watch,
                "b": browser,
            }
    finally:
        stop_dagster(proc)


# the innermost element showing "[Show Markdown]" in the metadata row whose key is arguments[0], or null
SHOW_MARKDOWN_OF = """
for (const row of document.querySelectorAll('tr')) {
  const cells = row.querySelectorAll('td');
  if (cells.length && cells[0].innerText.trim() === arguments[0]) {
    const hits = Array.from(row.querySelectorAll('*')).filter(e => e.innerText === '[Show Markdown]');
    if (hits.length) return hits[hits.length - 1];
  }
}
return null;
"""
# natural width of the first data: PNG the page shows (0 until it decodes)
DATA_IMAGE_WIDTH = """
const img = Array.from(document.images).find(i => i.src.startsWith('data:image/png'));
return img && img.complete ? img.naturalWidth : 0;
"""


def open_markdown(b, key: str) -> int:
    """Click the metadata row's "[Show Markdown]" and return the width of the data: PNG the dialog shows
    (0 when it did not open: the table re-renders while a new materialization loads, so callers retry)."""
    from selenium.common.exceptions import WebDriverException

    link = b.driver.execute_script(SHOW_MARKDOWN_OF, key)
    if not link:
        return 0
    try:
        link.click()
    except WebDriverException:  # covered or replaced by a re-render
        return 0
    for _ in range(20):
        if width := b.driver.execute_script(DATA_IMAGE_WIDTH):
            return width
        time.sleep(0.5)
    return 0


def test_materialize_sensor_lineage_and_invalidation(scene):
    port, url, b = scene["port"], scene["url"], scene["b"]
    home = scene["root"] / "reelrl"

    # 1. a person materializes the training graph (the launchpad's reelrl_demo job, minimal sizes)
    wait_run(port, launch(port, "reelrl_demo", run_config(MINIMAL_OPS)))
    assert stale_status(port, "training_run")[0] == "FRESH"
    # ... and reads the run's curves: a PNG embedded in the materialization's metadata, drawn by the UI
    b.open(f"{url}/assets/training_run")
    b.wait_for_text("curves_plot", timeout=60)
    width = b.wait_until(lambda: open_markdown(b, "curves_plot"), 90, "curves_plot's image in the UI")
    assert width == 1080, width  # 3 panels (reward, accuracy and length, timing): 13.5 x 3.2 in at 80 dpi, decoded by the browser
    b.wait_for_text("curves.png", timeout=30)  # the file path under the image
    assert_real_screenshot(b.screenshot("training_run_curves"))
    b.click_text("Close", within="[role=dialog]")

    # 2. switches the sensor on and drops a finished checkpoint into the watched folder
    sel = {**REPO, "sensorName": "new_checkpoints"}
    started = gql(
        port,
        "mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) { __typename "
        "... on Sensor { sensorState { status } } ... on PythonError { message } } }",
        {"s": sel},
    )["startSensor"]
    assert started["sensorState"]["status"] == "RUNNING", started
    ckpt = shutil.copytree(home / "models" / "tiny-qwen2_vl", scene["watch"] / "exp" / "step_100")
    # a still-being-copied one next to it must be skipped, not crash the tick
    half = shutil.copytree(ckpt, scene["watch"] / "exp" / "step_200")
    (half / "model.safetensors").write_bytes((ckpt / "model.safetensors").read_bytes()[:1000])
    name = checkpoint_name(ckpt, scene["watch"])
    cell = f"reelrl_jsonl|{name}"
    q = (
        'query($p: [String!]) { assetOrError(assetKey: {path: ["checkpoint_eval"]}) { ... on Asset { '
        "assetMaterializations(partitions: $p) { runId } } } }"
    )

    def evaluated() -> list:
        return gql(port, q, {"p": [cell]})["assetOrError"]["assetMaterializations"]

    deadline = time.time() + 420
    while time.time() < deadline and not evaluated():
        time.sleep(5)
    assert evaluated(), f"{cell} never evaluated by the sensor"
    keys = gql(
        port, '{ assetNodeOrError(assetKey: {path: ["checkpoint"]}) { ... on AssetNode { partitionKeys } } }'
    )
    keys = keys["assetNodeOrError"]["partitionKeys"]
    assert name in keys and not any("step_200" in k for k in keys), keys  # the half-written one waits
    b.open(f"{url}/assets/checkpoint_eval?view=partitions")
    b.wait_for_text(name, timeout=60)
    assert_real_screenshot(b.screenshot("sensor_evaluated_checkpoint"))

    # 3. opens the cache asset and reads its lineage
    b.open(f"{url}/assets/media_cache")
    b.wait_for_all(["cache_data_version", "lance_version", "lineage", "sampling"], timeout=60)
    assert_real_screenshot(b.screenshot("media_cache_lineage"))

    # 4. invalidates one cache row the training data uses: downstream goes stale, upstream does not
    rows = (home / "data" / "prepared" / "train.jsonl").read_text().splitlines()
    video = json.loads(rows[0])["media"][0]["source"]
    cfg = {"ops": {"invalidate_cache_entries": {"config": {"sources": [video]}}}}
    wait_run(port, launch(port, "invalidate_cache", cfg))
    status, causes = stale_status(port, "training_run")
    assert status == "STALE" and causes, (status, causes)
    assert stale_status(port, "filtered_train_set")[0] == "STALE"
    assert stale_status(port, "base_model")[0] == "FRESH"
    b.open(f"{url}/assets/training_run")
    # Dagster 1.13 labels a stale asset "Unsynced" (its popover lists the causes)
    b.wait_for_any(["Unsynced", "Stale"], timeout=60)
    assert_real_screenshot(b.screenshot("training_run_stale"))
