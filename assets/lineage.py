"""Versions and lineage records shared by the assets.

Code versions make Dagster mark downstream assets stale when the code that made them changes; the media
cache reports a data version (``MediaCache.state``: the fingerprint of exactly the rows the datasets use),
so invalidating, rebuilding or editing one of those rows marks everything downstream stale, and work on
other rows does not.
"""

import hashlib
import warnings

import dagster as dg

from cache_store import MediaCache, MediaSpec
from evaluation.manifest import model_revision, package_version
from training.data.stream import read_prepared

# Output(data_version=...) is marked beta in Dagster 1.13; it is the documented way to report one.
warnings.filterwarnings("ignore", message="Parameter `data_version`", category=Warning)

CODE_VERSION = package_version()
CACHE_CODE_VERSION = f"{CODE_VERSION}+preprocess-{MediaSpec().preprocess_version}"
MEDIA_CACHE = dg.AssetKey("media_cache")


def used_digests(media_cache: dict) -> list[str]:
    """Digests of every media item of the train and val rows the ``media_cache`` asset wrote."""
    return sorted(
        {
            m["digest"]
            for name in ("train", "val")
            for r in read_prepared(media_cache[name])
            for m in r["media"]
        }
    )


def cache_spec(media_cache: dict) -> MediaSpec:
    """The ``MediaSpec`` the ``media_cache`` asset built with: its output's ``spec``, or the fields of one as a
    dict (its ``dataset_files`` metadata, which the sensor reads back, and outputs stored by older versions)."""
    spec = media_cache["spec"]
    return spec if isinstance(spec, MediaSpec) else MediaSpec(**spec)


def cache_state(store: MediaCache, media_cache: dict):
    return store.state(used_digests(media_cache), cache_spec(media_cache))


def state_metadata(state) -> dict:
    return {
        "cache_data_version": state.fingerprint,
        "lance_version": state.version,
        "entries_used": state.digests,
        "entries_servable": state.servable,
        "entries_stale": len(state.stale),
        "entries_missing": len(state.missing),
    }


def cache_changed_event(state, reason: str, files: dict, **extra) -> dg.AssetMaterialization:
    """A ``media_cache`` event recording that rows it serves changed outside a build (invalidated, edited
    or deleted sources): its new data version makes every downstream asset stale in the UI."""
    return dg.AssetMaterialization(
        asset_key=MEDIA_CACHE,
        description=reason,
        tags={"dagster/data_version": state.fingerprint},
        metadata={
            **state_metadata(state),
            "reason": reason,
            "missing": ", ".join(state.missing[:20]) or "none",
            "stale": ", ".join(f"{s['source']} ({','.join(s['reasons'])})" for s in state.stale[:20])
            or "none",
            "dataset_files": dg.MetadataValue.json(files),
            **extra,
        },
    )


def lineage_table(store: MediaCache, last: int = 12) -> dg.MetadataValue:
    """The cache's newest builds and invalidations as a markdown table."""
    rows = store.lineage()[-last:]
    head = "| time | kind | status | entries version | added | replaced | removed | failed |\n|---|---|---|---|---|---|---|---|"

    def n(row, key):
        v = row.get(key)
        return len(v) if isinstance(v, list) else ("" if v is None else v)

    body = [
        f"| {str(r.get('time'))[:19]} | {r.get('kind')} | {r.get('status')} | {r.get('entries_version')} | "
        f"{n(r, 'added')} | {n(r, 'replaced')} | {n(r, 'removed')} | {n(r, 'failed')} |"
        for r in reversed(rows)
    ]
    return dg.MetadataValue.md("\n".join([head, *body]))


def file_version(*paths) -> dg.DataVersion:
    """A data version from the bytes of the files an asset wrote (equal content, equal version, so a
    re-materialization that changes nothing leaves downstream assets fresh)."""
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return dg.DataVersion(h.hexdigest()[:16])


def checkpoint_version(path) -> dg.DataVersion:
    """A checkpoint's data version: its revision (config + weight files' names, sizes, mtimes)."""
    return dg.DataVersion(model_revision(path) or str(path))


def consumed_cache(media_cache: dict) -> dict:
    """Metadata naming the cache state an asset read: the lineage from a run back to its tensors."""
    return {
        "cache_data_version": media_cache.get("data_version", ""),
        "cache_lance_version": media_cache["version"],
        "cache_uri": media_cache["uri"],
    }


def latest_cache_value(instance: dg.DagsterInstance) -> tuple[dict | None, str | None]:
    """(dataset files + spec, data version) of the latest ``media_cache`` event, (None, None) before any."""
    record = instance.get_latest_materialization_event(MEDIA_CACHE)
    if record is None or record.asset_materialization is None:
        return None, None
    mat = record.asset_materialization
    files = mat.metadata.get("dataset_files")
    files = getattr(files, "value", files)
    return (files if isinstance(files, dict) else None), (mat.tags or {}).get("dagster/data_version")
