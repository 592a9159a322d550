"""Entry reports: ``video_grid_thw`` per model family, ``show``, ``history`` and ``dump_frames``.

``video_grid_thw`` is derived, not stored: the processor (resize and frame sampling off) splits T frames
into ``ceil(T / temporal_patch_size)`` temporal patches (the last frame is repeated to fill the last one)
and an H x W frame into ``(H / patch) x (W / patch)`` patches, with patch 14 for Qwen2/2.5-VL (factor 28)
and 16 for Qwen3-VL (factor 32). The grid is therefore a pure function of the row's ``(t, h, w)`` and its
``factor``, and a new column would only add a schema migration. A row built with factor 28 is valid input
only for the families with patch 14 (a 56-pixel side is not a multiple of 32), so only those get a grid.
An image is one frame: its grid is ``(1, H / patch, W / patch)``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .admin import KEY_FIELDS, VALIDITY_FIELDS, check_row, sql_literal
from .journal import ACTIONS
from .keys import MediaSpec, canonical_source, is_digest
from .sampling import FRAME_FACTOR, PATCH_SIZE_BY_FAMILY, SPATIAL_MERGE_SIZE
from .schema import ENTRIES_SCHEMA

if TYPE_CHECKING:
    from .storage import Storage

TEMPORAL_PATCH_SIZE = FRAME_FACTOR  # 2 in every Qwen-VL checkpoint: the reason FRAME_FACTOR is 2


def grid_thw(
    t: int, h: int, w: int, patch_size: int, temporal_patch_size: int = TEMPORAL_PATCH_SIZE
) -> list[int]:
    """``[grid_t, grid_h, grid_w]`` of T frames of H x W: ``[ceil(T / tp), H / patch, W / patch]``.

    Raises ValueError when H or W is not a multiple of ``patch_size * SPATIAL_MERGE_SIZE``: such frames
    were resized for another model family.

    >>> grid_thw(6, 56, 84, 14)
    [3, 4, 6]
    """
    factor = patch_size * SPATIAL_MERGE_SIZE
    if t < 1 or h % factor or w % factor:
        raise ValueError(
            f"{t}x{h}x{w} frames do not fit patch {patch_size} (sides must be multiples of {factor})"
        )
    return [math.ceil(t / temporal_patch_size), h // patch_size, w // patch_size]


def grids_by_family(t: int, h: int, w: int, factor: int) -> dict[str, list[int]]:
    """Grid for every model family whose factor (patch x merge) is ``factor``; {} when none is.

    >>> grids_by_family(6, 64, 96, 32)
    {'qwen3_vl': [3, 4, 6], 'qwen3_vl_moe': [3, 4, 6], 'qwen3_5': [3, 4, 6], 'qwen3_5_moe': [3, 4, 6]}
    """
    return {
        family: grid_thw(t, h, w, patch)
        for family, patch in PATCH_SIZE_BY_FAMILY.items()
        if patch * SPATIAL_MERGE_SIZE == factor
    }


def visual_tokens(grid: list[int]) -> int:
    """Placeholder tokens of one grid after the 2x2 spatial merge: ``t * h * w / merge**2``."""
    return grid[0] * grid[1] * grid[2] // SPATIAL_MERGE_SIZE**2


def _entry_rows(storage: Storage, query: str | os.PathLike) -> tuple[str, list[dict[str, Any]]]:
    """(what was looked for, entries rows without frame bytes) for a digest or a source."""
    columns = [n for n in ENTRIES_SCHEMA.names if n != "frames"]
    text = os.fspath(query)
    ds = storage.entries()
    if is_digest(text):
        return text, ds.to_table(columns=columns, filter=f"digest = '{text}'").to_pylist()
    source = canonical_source(text)
    return source, ds.to_table(columns=columns, filter=f"source = {sql_literal(source)}").to_pylist()


def _one_row(storage: Storage, query: str | os.PathLike) -> dict[str, Any]:
    """The single entries row a digest or source names; KeyError / ValueError that say what to do."""
    wanted, rows = _entry_rows(storage, query)
    if len(rows) == 1:
        return rows[0]
    if len(rows) > 1:
        choices = ", ".join(
            f"{r['digest']} ({r['kind']} fps={r['fps']} max_frames={r['max_frames']} "
            f"max_pixels={r['max_pixels']})"
            for r in sorted(rows, key=lambda r: r["digest"])
        )
        raise ValueError(f"{wanted} has {len(rows)} cache entries: {choices}; pass one of these digests")
    failed = [f for f in storage.failures() if wanted in (f["digest"], f["source"])]
    if failed:
        f = failed[0]
        raise KeyError(
            f"{wanted}: no cache entry; it failed in build {f['build_id']} with {f['error']}: {f['message']}"
        )
    removed = [e for e in history(storage, wanted) if e["action"] == "removed"]
    if removed:
        e = removed[-1]
        raise KeyError(
            f"{wanted}: no cache entry; {e['kind']} {e['build_id']} removed it at {e['time']}; "
            "rebuild it with `reelrl cache build` (MediaCache.build)"
        )
    raise KeyError(
        f"{wanted}: no cache entry in {storage.root}; check the path or digest (`reelrl cache stats`), "
        "or build it with `reelrl cache build` (MediaCache.build)"
    )


def _history_digests(storage: Storage, wanted: str, lineage: list[dict[str, Any]]) -> set[str]:
    """Digests whose events belong to ``wanted``: itself if a digest; for a source, its current rows, its
    failures, and its key under every spec a build recorded (finds rows that were removed since)."""
    if is_digest(wanted):
        return {wanted}
    found = {r["digest"] for r in _entry_rows(storage, wanted)[1]}
    found |= {f["digest"] for f in storage.failures() if f["source"] == wanted}
    for row in lineage:
        try:
            spec = MediaSpec(**json.loads(row["spec_json"])) if row.get("spec_json") else None
        except (TypeError, ValueError):  # a spec from another cache_store version
            continue
        if spec is not None:
            found |= {spec.key_for(wanted, kind).digest() for kind in ("video", "image")}
    return found


def history(storage: Storage, digest_or_source: str | os.PathLike) -> list[dict[str, Any]]:
    """Lineage events of a digest (or of every key of a source), oldest first.

    Each event: ``{time, build_id, kind ("build" | "invalidate"), action ("added" | "replaced" |
    "removed" | "failed"), digest, entries_version}``. Hits are not events. Builds recorded before
    lineage kept key lists cannot be attributed and are skipped.
    """
    text = os.fspath(digest_or_source)
    wanted = text if is_digest(text) else canonical_source(text)
    lineage = storage.lineage()
    digests = _history_digests(storage, wanted, lineage)
    events = []
    for row in lineage:
        for action in ACTIONS:
            for digest in sorted(digests.intersection(row.get(f"keys_{action}") or ())):
                events.append(
                    {
                        "time": row["time"],
                        "build_id": row["build_id"],
                        "kind": row["kind"],
                        "action": action,
                        "digest": digest,
                        "entries_version": row["entries_version"],
                    }
                )
    return events


def show(
    storage: Storage, source_or_digest: str | os.PathLike, spec: MediaSpec | None = None
) -> dict[str, Any]:
    """All metadata of one entry, without frame bytes.

    Keys: digest, source, kind, ``key`` (fps, max_frames, max_pixels), ``validity`` (min_pixels,
    min_frames, total_pixels, factor, preprocess_version), ``fingerprint`` (size, mtime_ns, sha256 as stored),
    ``stale`` / ``stale_reasons`` / ``stale_detail`` (checked now; against ``spec`` too when given),
    t, h, w, c, bytes, indices, timestamps, sample_fps, source_fps, total_frames, ``video_grid_thw`` or
    ``image_grid_thw`` and ``visual_tokens`` per model family, build_id, created_at, ``build_version``
    (entries version after the build that wrote it), ``build_status`` ("complete", or "incomplete" when that
    build never finished), ``version`` (entries version now), ``history``.
    A source with several keys raises ValueError listing their digests.
    """
    row = _one_row(storage, source_or_digest)
    reasons, details = check_row(row, spec, content_hash=storage.content_hash)
    grids = grids_by_family(row["t"], row["h"], row["w"], row["factor"])
    lineage = {r["build_id"]: r for r in storage.lineage()}
    build = lineage.get(row["build_id"])
    return {
        "digest": row["digest"],
        "source": row["source"],
        "kind": row["kind"],
        "key": {k: row[k] for k in KEY_FIELDS},
        "validity": {k: row[k] for k in VALIDITY_FIELDS},
        "fingerprint": {
            "size": row["source_size"],
            "mtime_ns": row["source_mtime_ns"],
            "sha256": row.get("source_sha256"),
        },
        "stale": bool(reasons),
        "stale_reasons": reasons,
        "stale_detail": "; ".join(details),
        **{k: row[k] for k in ("t", "h", "w", "c")},
        "bytes": row["t"] * row["h"] * row["w"] * row["c"],
        **{k: row[k] for k in ("indices", "timestamps", "sample_fps", "source_fps", "total_frames")},
        f"{row['kind']}_grid_thw": grids,
        "visual_tokens": {family: visual_tokens(g) for family, g in grids.items()},
        "build_id": row["build_id"],
        "created_at": row["created_at"],
        "build_version": build["entries_version"] if build else None,
        "build_status": build["status"] if build else None,
        "version": storage.version(),
        "history": history(storage, row["digest"]),
    }


def dump_frames(storage: Storage, source_or_digest: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Save one entry's uint8 frames (T, H, W, 3) with ``numpy.save``; returns the file written."""
    digest = _one_row(storage, source_or_digest)["digest"]
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, storage.read([digest], copy=False)[digest].frames)
    return out if out.suffix == ".npy" else out.with_name(out.name + ".npy")
