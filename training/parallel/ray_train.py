"""The RL loop on Ray Train: ``TorchTrainer`` workers fed by Ray Data from the Lance cache.

The driver lays out the batch sequence from the run's data position with the single-process stream's
``training.data.stream.BatchLayout`` (epoch e shuffled with ``seed + e``, batch k = rows ``[k·B, (k+1)·B)``) and
gives worker r of W the r-th slice (``B / W`` prompts) of every global batch as its own Ray dataset, built
by the same reader (``data.rows_dataset``) and read in the worker with ``data.item_batches``, which fetches
each batch's frames from the Lance cache by digest in that worker (so the cache must be readable on every
node that runs a worker: a shared filesystem or an object-store URI). Each worker rolls out and scores its prompts (whole groups stay on
one worker), and the update sums token counts and gradients over ranks (``update.sync_gradients``: gloo
on CPU, NCCL on GPU), so every rank keeps identical weights and the step equals one worker's step on the
union of the rollouts (batch-level whitening, as in REINFORCE++ and GDPO, is per rank). Rank 0 writes
metrics and checkpoints; a resumed run reads the newest checkpoint's data position
(``checkpoint.read_progress``) and starts the data there. Weights are replicated (``worker.actor.strategy=replicate``) or sharded
with FSDP2 (``fsdp2``: ``training.parallel.fsdp``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from training.config import RLConfig, load_config, to_dict
from training.data.media_source import FROM_CACHE, MediaSource
from training.data.stream import BatchLayout, ensure_ray, item_batches, rows_dataset
from training.hardware import resolve_device

log = logging.getLogger(__name__)
RESULT_FILE = "ray_train_result.json"


def check_ranks_agree(model) -> None:
    """Raise if this rank's weights differ from rank 0's (they must stay identical: gradients are summed)."""
    import torch.distributed as dist

    from training.parallel.fsdp import is_sharded

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    if is_sharded(model):  # one logical copy, split over the ranks: nothing to compare
        return
    with torch.no_grad():
        mine = torch.stack([p.double().sum() for p in model.parameters()])
    ref = mine.clone()
    dist.broadcast(ref, src=0)
    if not torch.equal(mine, ref):
        bad = int((mine != ref).sum())
        raise RuntimeError(f"rank {dist.get_rank()}: {bad} parameter tensors differ from rank 0")


def rank_nodes() -> list[str]:
    """The Ray node id of every rank, in rank order (gathered over the process group; this process's
    alone without one): where Ray placed the workers."""
    import ray
    import torch.distributed as dist

    node = ray.get_runtime_context().get_node_id()
    if not (dist.is_available() and dist.is_initialized()):
        return [node]
    nodes: list = [None] * dist.get_world_size()
    dist.all_gather_object(nodes, node)
    return nodes


def _worker_loop(config: dict) -> None:
    """Runs in each Ray Train worker: an ``RLTrainer`` on this rank's dataset shard."""
    import ray.train

    from training.loop.trainer import RLTrainer

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.set_num_threads(config["threads"])
    nodes = rank_nodes()
    log.info("rank %d of %d on Ray node %s", rank, world, nodes[rank])
    cfg = load_config(overrides=config["cfg"])
    trainer = RLTrainer(cfg, cfg.model_path, config["save_dir"], rank=rank, world_size=world).setup()
    trainer.resume_from(config["resume"])
    shard = ray.train.get_dataset_shard(f"rank{rank}")
    batches = item_batches(
        shard, config["cache_root"], cfg.data.rollout_batch_size // world, media=config["media"]
    )
    result = trainer.train(batches, steps=cfg.trainer.total_steps)
    trainer.close()
    check_ranks_agree(trainer.model)
    if rank == 0:  # Train v2 keeps reported metrics only with a checkpoint upload: a file is simpler
        last = result.history[-1] if result.history else {}
        summary = {k: v for k, v in last.items() if isinstance(v, int | float)}
        summary.update(steps=result.steps, checkpoint=result.checkpoint, worker_nodes=nodes)
        (Path(config["save_dir"]) / RESULT_FILE).write_text(json.dumps(summary))
    ray.train.report({"steps": result.steps})  # every worker reports once (a barrier in Train v2)


def rank_datasets(
    cfg: RLConfig, rows: list[dict], num_workers: int, batches_drawn: int, steps_left: int
) -> dict:
    """Worker r's Ray dataset ``rank<r>``: its slice (``training.data.stream.BatchLayout``) of every global batch
    the remaining steps may draw from the data position ``batches_drawn`` on (with dynamic sampling up to
    ``trainer.max_try_make_batch`` per step); the workers fetch the frames."""
    budget = max(0, steps_left) * (cfg.trainer.max_try_make_batch if cfg.algorithm.online_filtering else 1)
    layout = BatchLayout(rows, cfg.data.rollout_batch_size, cfg.data.seed, cfg.data.shuffle)
    return {
        f"rank{rank}": rows_dataset(
            layout.batch_rows(batches_drawn, max(budget, 1), world=num_workers, rank=rank)
        )
        for rank in range(num_workers)
    }


def train_on_ray(
    cfg: RLConfig,
    rows: list[dict],
    cache_root: str,
    save_dir: str | Path,
    num_workers: int = 1,
    use_gpu: bool | None = None,
    threads_per_worker: int = 1,
    media: MediaSource = FROM_CACHE,
) -> dict:
    """Run ``cfg.trainer.total_steps`` RL steps on ``num_workers`` Ray Train workers; resume from the newest
    checkpoint under ``save_dir`` if there is one. Returns rank 0's last metrics with ``checkpoint``,
    ``worker_nodes`` (each rank's Ray node id) and ``resumed_from_step`` (None for a fresh run). A failed run
    (a worker or its node lost) raises a RuntimeError naming the checkpoint a rerun resumes from.
    ``use_gpu`` (one GPU per worker, NCCL) defaults to whether ``trainer.device`` resolves to cuda here.
    ``media``: where the workers' readers get frames (``data.media_source`` with the cache's spec)."""
    from ray.train import DataConfig, RunConfig, ScalingConfig, TrainingFailedError
    from ray.train.torch import TorchTrainer

    from training.outputs.checkpoint import checkpoint_root, find_resume, read_progress

    if not rows:
        raise ValueError("no training rows: the filtered train set is empty")
    if use_gpu is None:
        use_gpu = resolve_device(cfg.trainer.device) == "cuda"
    ensure_ray()
    save_dir = Path(save_dir).resolve()
    resume = find_resume(checkpoint_root(save_dir)) if cfg.trainer.find_last_checkpoint else None
    start, done = 0, 0
    if resume is not None:  # the workers load the rest; the driver needs where the data continues
        progress = read_progress(resume)
        start, done = progress.batches_drawn, progress.global_step
        log.info("resuming from %s (step %d, data position %d)", resume, done, start)
    datasets = rank_datasets(cfg, rows, num_workers, start, cfg.trainer.total_steps - done)
    trainer = TorchTrainer(
        _worker_loop,
        train_loop_config={
            "cfg": to_dict(cfg),
            "save_dir": str(save_dir),
            "cache_root": cache_root,
            "media": media,
            "resume": str(resume) if resume else "",
            "threads": threads_per_worker,
        },
        scaling_config=ScalingConfig(
            num_workers=num_workers, use_gpu=use_gpu, resources_per_worker={"CPU": threads_per_worker}
        ),
        datasets=datasets,
        dataset_config=DataConfig(datasets_to_split=[]),  # each rank reads its own dataset, in order
        run_config=RunConfig(name="rl", storage_path=str(save_dir / "ray_train")),
    )
    (save_dir / RESULT_FILE).unlink(missing_ok=True)
    try:
        error = trainer.fit().error
    except TrainingFailedError as err:  # Train v2 raises where v1 returned the error
        error = err
    if error is not None:
        raise run_failed(save_dir, error) from error
    return json.loads((save_dir / RESULT_FILE).read_text()) | {"resumed_from_step": done if resume else None}


def run_failed(save_dir: Path, error: BaseException) -> RuntimeError:
    """The error a failed Ray Train run raises: what failed (a worker, its node) and what a rerun resumes
    from."""
    from training.outputs.checkpoint import checkpoint_root, find_resume

    newest = find_resume(checkpoint_root(save_dir))
    cause = " ".join(str(error).split())[:600] or type(error).__name__
    then = (
        f"its newest checkpoint is {newest}: run again (same config and save folder) to resume from it"
        if newest
        else "it wrote no checkpoint: running again starts over"
    )
    return RuntimeError(f"the Ray Train run in {save_dir} failed ({type(error).__name__}: {cause}); {then}")
