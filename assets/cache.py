"""``media_cache``: decode every video/image of the source dataset once into the Lance cache."""

import dagster as dg

from assets.lineage import CACHE_CODE_VERSION, cache_state, lineage_table, state_metadata
from assets.progress import Progress
from assets.resources import MediaCacheResource, WorkspaceResource
from evaluation.media_spec import CACHE_CONFIG_KEYS, ResolvedMediaSpec, resolve_media_spec
from training.data.stream import read_prepared, write_prepared


class MediaCacheConfig(dg.Config):
    """Sampling settings (EasyR1 names: data.video_fps, data.video_max_frames, …); the lookup key uses
    (source, fps, max_frames, max_pixels). The resize factor comes from the model family."""

    video_fps: float = 2.0
    video_max_frames: int = 8
    video_min_frames: int = 4
    video_min_pixels: int = 16 * 28 * 28
    video_max_pixels: int = 64 * 28 * 28
    image_min_pixels: int = 16 * 28 * 28
    image_max_pixels: int = 64 * 28 * 28
    workers: int = 2
    timeout_s: float = 60.0


def media_spec(config: MediaCacheConfig, model_type: str) -> ResolvedMediaSpec:
    """The training spec, through the one resolver every door uses (``evaluation.media_spec``)."""
    chosen = {field: getattr(config, key) for field, key in CACHE_CONFIG_KEYS.items()}
    return resolve_media_spec("training", model_type, choices=[("media_cache config", chosen)])


@dg.asset(
    group_name="data",
    code_version=CACHE_CODE_VERSION,
    description="Lance tensor cache of every media file, plus the dataset rows "
    "with their cache keys. Undecodable media are recorded in the failures table and their samples dropped.",
)
def media_cache(
    context: dg.AssetExecutionContext,
    config: MediaCacheConfig,
    base_model: dict,
    source_dataset: dict,
    workspace: WorkspaceResource,
    cache: MediaCacheResource,
) -> dg.Output[dict]:
    resolved = media_spec(config, base_model["model_type"])
    spec = resolved.spec
    store = cache.open(workspace)
    splits = {name: read_prepared(source_dataset[name]) for name in ("train", "val")}
    sources = sorted({(m["source"], m["kind"]) for rows in splits.values() for r in rows for m in r["media"]})
    report = store.build(
        sources,
        spec,
        workers=config.workers,
        timeout_s=config.timeout_s,
        progress=Progress(context.log, "media_cache", len(sources)),
    )
    out, dropped = {}, 0
    for name, rows in splits.items():
        kept = []
        for r in rows:
            if all(m["source"] in report.digests for m in r["media"]):
                r["media"] = [{**m, "digest": report.digests[m["source"]]} for m in r["media"]]
                kept.append(r)
        dropped += len(rows) - len(kept)
        out[name] = str(write_prepared(kept, workspace.path("data", "prepared", f"{name}.jsonl")))
        out[f"n_{name}"] = len(kept)
    failures = report.failures
    if failures:  # on the console, not only in the failures table: these samples are gone from training
        context.log.warning(
            f"media_cache: {len(failures)} of {len(sources)} media could not be decoded ({dropped} samples "
            f"dropped; failed_media_rate fails above its limit):\n{failure_lines(failures)}"
        )
    value = {
        "uri": cache.resolve_uri(workspace),
        "spec": spec,  # the MediaSpec itself (read it with assets.lineage.cache_spec)
        "version": report.version,
        "hits": report.hits,
        "built": report.built,
        "failed": report.failed,
        "media": len(sources),
        "failures": failures,
        **out,
    }
    state = cache_state(store, value)  # the data version: exactly the rows these datasets use
    value["data_version"] = state.fingerprint
    metadata = {
        "uri": dg.MetadataValue.path(store.entries_uri),
        "build_id": report.build_id,
        "media": len(sources),
        "hits": report.hits,
        "misses_built": report.built,
        "stale_replaced": report.replaced,
        "failed": report.failed,
        "samples_dropped_for_media": dropped,
        **state_metadata(state),
        "failures": _failures_table(failures),
        "sampling": dg.MetadataValue.json(spec.to_dict()),
        "sampling_source": resolved.source,
        "lineage": lineage_table(store),
        # what the sensor and the invalidate job read back (assets.lineage.latest_cache_value, cache_spec)
        "dataset_files": dg.MetadataValue.json(
            {"train": value["train"], "val": value["val"], "spec": spec.to_dict()}
        ),
    }
    return dg.Output(value, data_version=dg.DataVersion(state.fingerprint), metadata=metadata)


def failure_lines(failures: list[dict], limit: int = 50) -> str:
    """One line per failed medium: the cache's message (it names the file, says in plain words what is wrong
    with it and the fix) and the error class; at most ``limit``, then how many more."""
    lines = [f"  - {f.get('message') or f['source']} [{f.get('error', '')}]" for f in failures[:limit]]
    more = len(failures) - limit
    return "\n".join(lines + ([f"  … and {more} more (media_cache metadata: failures)"] if more > 0 else []))


def _failures_table(failures: list[dict]) -> dg.MetadataValue | str:
    if not failures:
        return "none"
    return dg.MetadataValue.md(
        "| source | error | message |\n|---|---|---|\n"
        + "\n".join(
            f"| {f['source']} | {f.get('error', '')} | {str(f.get('message', ''))[:120]} |"
            for f in failures[:50]
        )
    )


@dg.asset_check(
    asset=media_cache,
    description="Every cache row the datasets use is present and servable: none invalidated, none whose "
    "source changed or vanished since it was decoded. Fix: materialize media_cache (rebuilds them).",
)
def cache_entries_fresh(media_cache: dict, workspace: WorkspaceResource, cache: MediaCacheResource):
    state = cache_state(cache.open(workspace), media_cache)
    examples = [f"{s['source']}: {s['detail']}" for s in state.stale[:10]] + [
        f"{d} (missing)" for d in state.missing[:10]
    ]
    return dg.AssetCheckResult(
        passed=not state.stale and not state.missing,
        metadata={
            **state_metadata(state),
            "examples": dg.MetadataValue.md("\n".join(f"- {e}" for e in examples) or "none"),
        },
    )


class FailedMediaConfig(dg.Config):
    max_failed_fraction: float = 0.05


@dg.asset_check(
    asset=media_cache,
    blocking=True,
    description="Undecodable media stay below max_failed_fraction of all media (their samples are dropped). "
    "Blocking: above it nothing downstream runs, and the run fails naming each file and why.",
)
def failed_media_rate(context: dg.AssetCheckExecutionContext, config: FailedMediaConfig, media_cache: dict):
    total = media_cache.get("media") or (media_cache["built"] + media_cache["hits"] + media_cache["failed"])
    frac = media_cache["failed"] / max(total, 1)
    passed = frac <= config.max_failed_fraction
    description = None
    if not passed:
        description = (
            f"{media_cache['failed']} of {total} media ({frac:.0%}) could not be decoded, above "
            f"max_failed_fraction {config.max_failed_fraction:.0%}; fix or remove these files (or raise "
            f"max_failed_fraction in this check's config):\n{failure_lines(media_cache['failures'])}"
        )
        context.log.error(f"failed_media_rate: {description}")
    return dg.AssetCheckResult(
        passed=passed,
        description=description,
        metadata={
            "failed": media_cache["failed"],
            "media": total,
            "failed_fraction": frac,
            "max_failed_fraction": config.max_failed_fraction,
            "failed_sources": ", ".join(f["source"] for f in media_cache["failures"][:20]) or "none",
        },
    )
