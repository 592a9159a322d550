"""Training assets: the SFT warm start (cold start) and the GRPO-family RL run."""

import hashlib
import json

import dagster as dg

from assets.configs import dagster_config
from assets.lineage import CODE_VERSION, cache_spec, checkpoint_version, consumed_cache
from assets.partitions import register_checkpoints
from assets.plots import embedded_png
from assets.resources import CheckpointsResource, RayResource, WorkspaceResource
from training.config import RLConfig, choices, load_config, to_dict
from training.data.media_source import MediaSource
from training.data.stream import read_prepared, stream_batches
from training.loop.trainer import RLTrainer, RunResult
from training.outputs.checkpoint import checkpoint_root, list_checkpoints
from training.outputs.curves import plot_curves
from training.outputs.sinks import read_metrics
from training.parallel.ray_train import train_on_ray
from training.sft import run_sft


class SFTConfig(dg.Config):
    """``steps: 0`` skips the warm start and hands the base model to RL unchanged; ``save_freq`` steps
    between checkpoints (0: none), from which materializing again after a crash resumes."""

    steps: int = 120
    batch_size: int = 8
    lr: float = 3e-3
    seed: int = 1
    save_freq: int = 40


def run_digest(settings, data_file: str) -> str:
    """A run folder's key: its settings and the bytes of its data file (not just the file's path, which
    stays the same when the data behind it is rebuilt)."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    with open(data_file, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


@dg.asset(
    group_name="training",
    code_version=CODE_VERSION,
    description="Supervised warm start on the training split (reasoning + "
    "<answer> targets), streamed from the Lance cache by Ray Data; the RL starting policy.",
)
def sft_warm_start(
    context: dg.AssetExecutionContext,
    config: SFTConfig,
    base_model: dict,
    media_cache: dict,
    workspace: WorkspaceResource,
    ray: RayResource,
    checkpoints: CheckpointsResource,
) -> dg.Output[dict]:
    if config.steps == 0:
        context.add_output_metadata({"checkpoint": base_model["path"], "steps": 0})
        value = {
            "checkpoint": base_model["path"],
            "checkpoint_name": base_model["checkpoint_name"],
            "steps": 0,
        }
        return dg.Output({**value, "history": []}, data_version=checkpoint_version(base_model["path"]))
    ray.ensure()
    rows = read_prepared(media_cache["train"])
    # one folder per (settings, base model, data): materializing again after a crash resumes there
    digest = run_digest([config.model_dump(), base_model["path"], media_cache["uri"]], media_cache["train"])
    out_dir = workspace.path("runs", "sft", digest)
    result = run_sft(
        base_model["path"],
        lambda batches_drawn: stream_batches(
            rows,
            media_cache["uri"],
            config.batch_size,
            seed=config.seed,
            num_batches=config.steps,
            batches_drawn=batches_drawn,
        ),
        steps=config.steps,
        save_dir=out_dir,
        lr=config.lr,
        seed=config.seed,
        save_freq=config.save_freq,
        on_metrics=lambda m: (
            m["step"] % 10 == 0 and context.log.info(f"sft step {m['step']}: loss {m['sft/loss']:.3f}")
        ),
    )
    losses = [h["sft/loss"] for h in result.history]
    name = checkpoints.register(result.checkpoint, workspace)
    register_checkpoints(context.instance, [name])
    context.add_output_metadata(
        {
            "checkpoint": result.checkpoint,
            "steps": result.steps,
            "loss_first": losses[0] if losses else None,
            "loss_last": losses[-1] if losses else None,
            "data_wait_s_mean": sum(h["timing_s/data_wait"] for h in result.history)
            / max(len(result.history), 1),
            "checkpoint_partition": name,
            **consumed_cache(media_cache),
        }
    )
    value = {"checkpoint": result.checkpoint, "checkpoint_name": name, "steps": result.steps}
    return dg.Output({**value, "history": result.history}, data_version=checkpoint_version(result.checkpoint))


# The launchpad shows RLConfig's sections and keys one to one (EasyR1 names), with the demo's sizes as
# defaults: a tiny model on a 2-core CPU learning the demo's answer-only yes/no task (real Qwen-VL runs use lr
# ~1e-6 and longer responses). 16 prompts x 4 responses at lr 1e-3 is the setting benchmarks/learning.py found
# stable for this model (fewer prompts per step swing the yes/no prior; see benchmarks/README.md). 100 steps:
# at 50 the demo's held-out gain over its warm start was +7 to +14 points across RL seeds on one machine, at
# 100 it is near the ceiling on every seed measured (README, "Measured"), for ~40 s more on 2 cores.
DEMO_RL_DEFAULTS = {
    "trainer.total_steps": 100,
    "worker.actor.lr": 1e-3,
    "data.rollout_batch_size": 16,
    "worker.rollout.n": 4,
    "worker.rollout.max_new_tokens": 12,
}

TrainingRunConfig = dagster_config(
    RLConfig,
    "TrainingRunConfig",
    defaults=DEMO_RL_DEFAULTS,
    choices=choices(),
    exclude=("model_path",),  # the policy comes from sft_warm_start
    extra={
        "num_workers": (
            int,
            1,
            ">1: Ray Train TorchTrainer workers (gloo on CPU, NCCL on GPU), each with its own Ray Data shard",
        )
    },
    doc="training.config.RLConfig, section by section (EasyR1 key names); the policy is sft_warm_start's.",
)


def rl_config(config, model_path: str) -> RLConfig:
    """The validated RLConfig of a launchpad config (cross-field rules are checked here, at run start)."""
    values = config.model_dump()
    values.pop("num_workers")
    return load_config(overrides={**values, "model_path": model_path})


def _train_in_process(
    context, cfg: RLConfig, rows: list[dict], cache_uri: str, out_dir, media: MediaSource
) -> RunResult:
    """The RL run in this process (one worker), resumed from its newest checkpoint and data position."""

    def log_step(m: dict) -> None:
        context.log.info(
            f"rl step {m['step']}/{cfg.trainer.total_steps}: reward {m['reward/overall']:.3f} "
            f"acc {m['reward/accuracy']:.3f} len {m['response_length/mean']:.1f} "
            f"({m['timing_s/step']:.1f}s, data wait {m['timing_s/data_wait']:.2f}s)"
        )

    trainer = RLTrainer(cfg, cfg.model_path, out_dir, on_metrics=log_step).setup()
    if drawn := trainer.resume():
        context.log.info(f"resumed {out_dir} at step {trainer.global_step} (data position {drawn})")
    endless = cfg.algorithm.online_filtering  # dynamic sampling draws as many batches as it needs
    try:
        return trainer.train(
            lambda batches_drawn: stream_batches(
                rows, cache_uri, cfg.data.rollout_batch_size, seed=cfg.data.seed, shuffle=cfg.data.shuffle,
                batches_drawn=batches_drawn, media=media,
                num_batches=None if endless else max(1, cfg.trainer.total_steps - trainer.global_step),
            ),
            steps=cfg.trainer.total_steps,
        )  # fmt: skip
    finally:
        trainer.close()


@dg.asset(
    group_name="training",
    code_version=CODE_VERSION,
    description="GRPO-family RL from the warm start on the filtered train set; "
    "batches stream from the Lance cache through Ray Data; checkpoint in Hugging Face format.",
)
def training_run(
    context: dg.AssetExecutionContext,
    config: TrainingRunConfig,  # type: ignore[valid-type]
    sft_warm_start: dict,
    media_cache: dict,
    filtered_train_set: dict,
    workspace: WorkspaceResource,
    ray: RayResource,
    checkpoints: CheckpointsResource,
) -> dg.Output[dict]:
    cfg = rl_config(config, sft_warm_start["checkpoint"])
    ray.ensure()
    rows = read_prepared(filtered_train_set["path"])
    # one directory per (config, data): materializing again after a crash resumes from its checkpoint
    digest = run_digest([to_dict(cfg), config.num_workers], filtered_train_set["path"])
    out_dir = workspace.path("runs", "grpo", digest)
    media = MediaSource(cfg.data.media_source, cache_spec(media_cache))  # decoding uses the cache's spec
    if config.num_workers > 1:
        out = train_on_ray(
            cfg, rows, media_cache["uri"], out_dir, num_workers=config.num_workers, media=media
        )
        result = RunResult(out["checkpoint"], int(out["steps"]), read_metrics(out_dir / "metrics.jsonl"))
        placement = {k: out[k] for k in ("worker_nodes", "resumed_from_step")}
        context.log.info(
            f"Ray Train ranks on nodes {out['worker_nodes']}; resumed from step {out['resumed_from_step']}"
        )
    else:
        result = _train_in_process(context, cfg, rows, media_cache["uri"], out_dir, media)
        placement = {}
    hist = result.history
    # every saved step becomes an evaluable partition (the sensor, when on, evaluates new ones)
    saved = [p for _, p in list_checkpoints(checkpoint_root(out_dir))] or [result.checkpoint]
    names = [checkpoints.register(p, workspace) for p in saved]
    register_checkpoints(context.instance, names)
    name = checkpoints.register(result.checkpoint, workspace)
    table = "| step | reward | accuracy | format | length |\n|---|---|---|---|---|\n" + "\n".join(
        f"| {h['step']} | {h['reward/overall']:.3f} | {h['reward/accuracy']:.3f} | {h['reward/format']:.3f} | "
        f"{h['response_length/mean']:.1f} |"
        for h in hist
    )
    plot = plot_curves(hist, out_dir / "curves.png", title=f"training_run {digest}") if hist else None
    context.add_output_metadata(
        {
            "checkpoint": result.checkpoint,
            "steps": result.steps,
            "train_rows": len(rows),
            "curves": dg.MetadataValue.md(table),
            **(
                {"curves_plot": embedded_png(plot, "reward, accuracy and response length per step")}
                if plot
                else {}
            ),
            "config": dg.MetadataValue.json(to_dict(cfg)),
            "reward_first": hist[0]["reward/overall"] if hist else None,
            "reward_last": hist[-1]["reward/overall"] if hist else None,
            "checkpoint_partitions": ", ".join(names),
            **consumed_cache(media_cache),
        }
    )
    value = {
        "checkpoint": result.checkpoint,
        "checkpoint_name": name,
        "checkpoint_names": names,
        "steps": result.steps,
        "history": hist,
        "metrics": str(out_dir / "metrics.jsonl"),
        **placement,
    }
    return dg.Output(value, data_version=checkpoint_version(result.checkpoint))
