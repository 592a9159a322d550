"""Dataset assets: rollout pass rates and the partial-success filtered train set."""

from collections import Counter

import dagster as dg

from assets.lineage import CODE_VERSION, cache_spec, consumed_cache, file_version
from assets.progress import Progress
from assets.resources import MediaCacheResource, RayResource, WorkspaceResource
from training.data.media_source import MediaSource
from training.data.stream import read_prepared, stream_batches, write_prepared
from training.filtering.pass_rates import compute_pass_rates
from training.filtering.rules import partial_success_mask


class PassRateConfig(dg.Config):
    """``enabled: false`` skips the rollouts: every row keeps an unknown pass rate and the filter keeps all
    of them (for a policy that cannot solve anything yet, e.g. the tiny random model without a warm start).
    ``media_source``: where the rollouts' frames come from, as the trainer's ``data.media_source``."""

    enabled: bool = True
    k: int = 8
    temperature: float = 1.0
    max_new_tokens: int = 12  # the demo's answer-only targets are ~8 tokens (rationale targets need ~112)
    success_threshold: float = 0.5
    batch_size: int = 8
    seed: int = 0
    media_source: str = "cache"  # cache | prefer_cache | decode (training.data.media_source.MEDIA_SOURCES)


@dg.asset(
    group_name="data",
    code_version=CODE_VERSION,
    description="k rollouts per training sample with the RL starting policy; "
    "pass rate = share of rollouts whose accuracy reaches success_threshold.",
)
def rollout_pass_rates(
    context: dg.AssetExecutionContext,
    config: PassRateConfig,
    media_cache: dict,
    sft_warm_start: dict,
    workspace: WorkspaceResource,
    cache: MediaCacheResource,
    ray: RayResource,
) -> dg.Output[dict]:
    rows = read_prepared(media_cache["train"])
    if not config.enabled:
        path = write_prepared(
            [{"sample_id": r["sample_id"], "pass_rate": None} for r in rows],
            workspace.path("data", "pass_rates.jsonl"),
        )
        context.add_output_metadata({"samples": len(rows), "enabled": False, "path": str(path)})
        return dg.Output(
            {"path": str(path), "n": len(rows), "enabled": False}, data_version=file_version(path)
        )
    ray.ensure()
    media = MediaSource(config.media_source, cache_spec(media_cache))  # decoding uses the cache's spec
    batches = stream_batches(
        rows, media_cache["uri"], config.batch_size, shuffle=False, epochs=1, media=media
    )
    rates = compute_pass_rates(
        sft_warm_start["checkpoint"],
        batches,
        k=config.k,
        max_new_tokens=config.max_new_tokens,
        temperature=config.temperature,
        success_threshold=config.success_threshold,
        seed=config.seed,
        progress=Progress(context.log, "rollout_pass_rates", len(rows)),
    )
    path = write_prepared(rates, workspace.path("data", "pass_rates.jsonl"))
    hist = Counter(round(r["pass_rate"], 3) for r in rates)
    context.add_output_metadata(
        {
            "samples": len(rates),
            "k": config.k,
            "policy": sft_warm_start["checkpoint"],
            "mean_pass_rate": sum(r["pass_rate"] for r in rates) / max(len(rates), 1),
            "pass_rate_histogram": dg.MetadataValue.json({str(k): v for k, v in sorted(hist.items())}),
            "path": str(path),
            **consumed_cache(media_cache),
        }
    )
    return dg.Output({"path": str(path), "n": len(rates), "enabled": True}, data_version=file_version(path))


class FilterConfig(dg.Config):
    low: float = 0.0
    high: float = 1.0


@dg.asset(
    group_name="data",
    code_version=CODE_VERSION,
    description="Training rows whose pass rate is strictly between low and high.",
)
def filtered_train_set(
    context: dg.AssetExecutionContext,
    config: FilterConfig,
    media_cache: dict,
    rollout_pass_rates: dict,
    workspace: WorkspaceResource,
) -> dg.Output[dict]:
    rows = {r["sample_id"]: r for r in read_prepared(media_cache["train"])}
    rates = read_prepared(rollout_pass_rates["path"])
    enabled = rollout_pass_rates.get("enabled", True)
    if enabled:
        keep = partial_success_mask([r["pass_rate"] for r in rates], low=config.low, high=config.high)
    else:  # no rollouts were made: nothing to filter on
        keep = [True] * len(rates)
    kept = [rows[r["sample_id"]] | {"pass_rate": r["pass_rate"]} for r, k in zip(rates, keep) if k]
    path = write_prepared(kept, workspace.path("data", "filtered_train.jsonl"))
    by_type = Counter(r["problem_type"] for r in kept)
    used = {"enabled": enabled, "low": config.low, "high": config.high}
    context.add_output_metadata(
        {
            "kept": len(kept),
            "dropped": len(rates) - len(kept),
            **(
                {
                    "dropped_always_solved": sum(r["pass_rate"] >= config.high for r in rates),
                    "dropped_never_solved": sum(r["pass_rate"] <= config.low for r in rates),
                }
                if enabled
                else {"filter": "off (rollout_pass_rates.enabled=false): every row kept"}
            ),
            "kept_by_problem_type": dg.MetadataValue.json(dict(by_type)),
            "path": str(path),
        }
    )
    if not kept:
        raise dg.Failure(
            f"filter kept no samples (low={config.low}, high={config.high}); "
            "widen the bounds or warm-start the policy longer"
        )
    return dg.Output(
        {"path": str(path), "kept": len(kept), "dropped": len(rates) - len(kept), **used},
        data_version=file_version(path),
    )
