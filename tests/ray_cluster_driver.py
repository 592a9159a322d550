"""The driver process of ``tests/test_ray_cluster.py``: the Dagster ``training_run`` asset, invoked with the
code location's own resources (``pipelines.environment.resources``: the ``ray`` resource reads
``REELRL_RAY_ADDRESS``), on ``num_workers=2``. A process of its own, so that it joins the test's Ray cluster
with that cluster's token, whatever Ray the pytest process has started.

Usage: ``python tests/ray_cluster_driver.py JOB.json``; prints ``RESULT <json>`` (the asset's value) and
then ``NODES <json>`` (node id -> resource names, for placement) and exits 0, or prints ``ERROR <message>`` and exits 1.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import dagster as dg


def main(job_path: str) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from assets.training_runs import TrainingRunConfig, training_run
    from pipelines.environment import resources

    job = json.loads(Path(job_path).read_text())
    res = resources(home=job["home"])
    config = TrainingRunConfig(num_workers=2, **job["config"])
    context = dg.build_asset_context(instance=dg.DagsterInstance.ephemeral())
    try:
        out = training_run(
            context,
            config=config,
            sft_warm_start={"checkpoint": job["model"]},
            media_cache={"uri": job["cache"], "version": 1, "data_version": "test", "spec": job["spec"]},
            filtered_train_set={"path": job["rows"]},
            workspace=res["workspace"],
            ray=res["ray"],
            checkpoints=res["checkpoints"],
        )
    except Exception as err:  # noqa: BLE001 - the test reads the message the asset raised
        print("ERROR " + " ".join(str(err).split()), flush=True)
        return 1
    print("RESULT " + json.dumps(out.value, default=str), flush=True)
    import ray

    print("NODES " + json.dumps({n["NodeID"]: sorted(n["Resources"]) for n in ray.nodes()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
