"""``media_cache``: decode every video/image of the source dataset once into the Lance cache."""

import dagster as dg

from assets.progress import Progress
from assets.resources import MediaCacheResource, WorkspaceResource
from cache_store import MediaSpec
from cache_store.sampling import factor_for_family
from training.data import read_prepared, write_prepared


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


def media_spec(config: MediaCacheConfig, model_type: str) -> MediaSpec:
    return MediaSpec(
        fps=config.video_fps,
        max_frames=config.video_max_frames,
        min_frames=config.video_min_frames,
        min_pixels=config.video_min_pixels,
        max_pixels=config.video_max_pixels,
        image_min_pixels=config.image_min_pixels,
        image_max_pixels=config.image_max_pixels,
        factor=factor_for_family(model_type),
    )


@dg.asset(
    group_name="data",
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
) -> dict:
    spec = media_spec(config, base_model["model_type"])
    store = cache.open(workspace)
    splits = {name: read_prepared(source_dataset[name]) for name in ("train", "test")}
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
    context.add_output_metadata(
        {
            "uri": store.entries_uri,
            "lance_version": report.version,
            "build_id": report.build_id,
            "media": len(sources),
            "hits": report.hits,
            "misses_built": report.built,
            "stale_replaced": report.replaced,
            "failed": report.failed,
            "samples_dropped_for_media": dropped,
            "failures": dg.MetadataValue.md(
                "| source | error | message |\n|---|---|---|\n"
                + "\n".join(
                    f"| {f['source']} | {f.get('error', '')} | {str(f.get('message', ''))[:120]} |"
                    for f in failures[:50]
                )
            )
            if failures
            else "none",
            "spec": dg.MetadataValue.json({k: getattr(spec, k) for k in spec.__dataclass_fields__}),
        }
    )
    return {
        "uri": cache.resolve_uri(workspace),
        "spec": {k: getattr(spec, k) for k in spec.__dataclass_fields__},
        "version": report.version,
        "hits": report.hits,
        "built": report.built,
        "failed": report.failed,
        "failures": failures,
        **out,
    }
