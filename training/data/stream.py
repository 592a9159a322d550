"""Ray Data pipeline: prepared train rows -> cached frames fetched from Lance by key -> trainer batches.

A prepared row is what the ``filtered_train_set`` asset writes (one JSON object per line)::

    {"sample_id", "problem", "problem_type", "data_type", "answer", "options": [...],
     "media": [{"source", "kind", "digest"}], "extra": {...}}

With ``data.media_source=cache`` (the default) nothing here decodes video: a row whose media digest is not
in the cache is an error naming the sample (the cache asset must run first); ``prefer_cache`` and ``decode``
decode on the fly, bit-identically to the cache build (``training.data.media_source``). Ray Data carries
the rows; the frames are fetched by the ``collate_fn`` of ``iter_torch_batches`` (``FetchFrames``), in the
process that consumes them, in parallel and a bounded number of batches ahead (``FETCH_AHEAD``). Reading
them in Ray Data actors and moving them through the object store measured 20-50x slower here
(benchmarks/README.md, ``ray_data_bench.py``).

The single-process stream (``stream_batches``) and the Ray Train workers (``training.parallel.ray_train``) share
one batch layout (``BatchLayout``: which rows make global batch k) and one reader (``rows_dataset``, read
with ``item_batches``). The data position is ``batches_drawn``, the number of batches a run has taken from
the stream: a resumed run passes it back and sees the batches the killed run would have seen.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
from ray.data.collate_fn import NumpyBatchCollateFn

from cache_store.types import CachedMedia
from training.data.items import TrainItem
from training.data.media_source import FROM_CACHE, MediaFetcher, MediaSource


def read_prepared(path: str | Path) -> list[dict]:
    rows = []
    with open(path, "rb") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(orjson.loads(line))
                except orjson.JSONDecodeError as err:
                    raise ValueError(f"{path}:{n}: not valid JSON ({err})") from None
    return rows


def write_prepared(rows: list[dict], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.writelines(orjson.dumps(row) + b"\n" for row in rows)
    return path


LOOPBACK_IP = "127.0.0.1"


def ensure_ray(num_cpus: int | None = None, object_store_mb: int = 512, address: str | None = None) -> None:
    """Start (or join) Ray once per process with a bounded object store (Ray reserves ~7.5 GB by default).

    ``address`` (``REELRL_RAY_ADDRESS``) joins that cluster exactly as given. Without it a private local Ray
    is started that listens on loopback only (see ``_loopback_node_ip``); the dashboard stays off.
    """
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if address:
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
        return
    # Security: a local Ray must have no listener beyond this machine. Every Ray process (GCS, raylet
    # with its object manager, workers, the driver's core worker, the runtime-env agent) binds to all
    # interfaces unless the node IP is exactly 127.0.0.1, and ``ray.init`` rewrites a loopback
    # ``_node_ip_address`` to the machine's external IP; ``_loopback_node_ip`` keeps it 127.0.0.1.
    # ``address="local"`` always starts a fresh instance (never joins a ``ray start`` cluster or RAY_ADDRESS).
    with _loopback_node_ip():
        ray.init(
            address="local",
            num_cpus=num_cpus or os.cpu_count(),
            object_store_memory=object_store_mb * 1024 * 1024,
            include_dashboard=False,
            log_to_driver=False,
            ignore_reinit_error=True,
            _node_ip_address=LOOPBACK_IP,
        )
    node_ip = ray._private.worker.global_worker.node.node_ip_address
    if node_ip != LOOPBACK_IP:  # fail closed if a Ray upgrade changes how the node IP is chosen
        ray.shutdown()
        raise RuntimeError(
            f"local Ray came up on node IP {node_ip!r}, not {LOOPBACK_IP}, so it would listen on the "
            "network; set REELRL_RAY_ADDRESS to a Ray cluster you started and secured yourself"
        )


@contextlib.contextmanager
def _loopback_node_ip():
    """While starting a local Ray, make Ray treat this machine as a single-node, loopback-only host.

    ``ray.init(_node_ip_address="127.0.0.1")`` passes the IP through ``services.resolve_ip_for_localhost``,
    which swaps any loopback address for ``services.get_node_ip_address()``: the external IP, unless
    ``ray_constants.ENABLE_RAY_CLUSTER`` is false (Ray's macOS/Windows default, env
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, read once at ``import ray``), in which case it is 127.0.0.1.
    The flag is restored afterwards so a later ``ensure_ray(address=...)`` in this process is unaffected;
    Ray's processes receive the node IP on their command line, not through this flag.
    """
    from ray._private import ray_constants

    saved = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved


def to_ray_row(r: dict) -> dict:
    return {
        "sample_id": str(r["sample_id"]),
        "problem": r["problem"],
        "problem_type": r["problem_type"],
        "data_type": r.get("data_type", "video"),
        "answer": r["answer"],
        "options_json": orjson.dumps(r.get("options") or []).decode(),
        "media_json": orjson.dumps(r.get("media") or []).decode(),
        "extra_json": orjson.dumps(r.get("extra") or {}).decode(),
    }


def collate_items(batch: dict[str, np.ndarray], media: Sequence[Sequence[CachedMedia]]) -> list[TrainItem]:
    """Numpy columns of prepared rows, with each row's cached media, as TrainItems."""
    return [
        TrainItem(
            sample_id=str(batch["sample_id"][i]),
            problem=str(batch["problem"][i]),
            problem_type=str(batch["problem_type"][i]),
            data_type=str(batch["data_type"][i]),
            answer=str(batch["answer"][i]),
            options=orjson.loads(batch["options_json"][i]),
            media=list(media[i]),
            extra=orjson.loads(batch["extra_json"][i]),
        )
        for i in range(len(batch["sample_id"]))
    ]


_FETCHERS: dict[tuple[str, MediaSource], MediaFetcher] = {}
_FETCHERS_LOCK = threading.Lock()


def fetcher(cache_root: str, media: MediaSource = FROM_CACHE) -> MediaFetcher:
    """One ``MediaFetcher`` per (cache root, media source) per process, shared by every stream and fetch
    thread (its cache reads open the entries table's latest version each time, so later entries are seen)."""
    with _FETCHERS_LOCK:
        found = _FETCHERS.get((cache_root, media))
        if found is None:
            found = _FETCHERS[(cache_root, media)] = MediaFetcher(cache_root, media)
        return found


class FetchFrames(NumpyBatchCollateFn):
    """``iter_torch_batches`` collate_fn: a batch of prepared rows -> TrainItems with their frames.

    It runs in Ray Data's formatting thread pool of the process that iterates (the driver, or a Ray Train
    worker), ``prefetch_batches`` batches at a time, so frames are fetched in parallel, ahead of the consumer,
    straight into this process (one cache read per batch; decoded where ``media`` says): no actor to start, no
    copy through the object store. The cache root must be readable where the iteration runs (a shared
    filesystem or an object-store URI).
    """

    def __init__(self, cache_root: str, media: MediaSource = FROM_CACHE):
        self.cache_root, self.media = cache_root, media

    def __call__(self, batch: dict[str, np.ndarray]) -> list[TrainItem]:
        rows = [
            (str(s), orjson.loads(m)) for s, m in zip(batch["sample_id"], batch["media_json"], strict=True)
        ]
        return collate_items(batch, fetcher(self.cache_root, self.media).fetch_rows(rows))


# ---- the batch layout: which rows make global batch k ---------------------------------------------
# An endless stream builds one Ray dataset per this many epochs' worth of batches (the rows of a dataset
# are held in the driver).
ENDLESS_CHUNK_EPOCHS = 8


def epoch_order(rows: list[dict], seed: int, epoch: int, shuffle: bool = True) -> list[dict]:
    """The rows of one epoch: a permutation that depends only on (rows, seed, epoch), so a resumed
    run can replay the same order."""
    order = list(rows)
    if shuffle:
        random.Random(seed + epoch).shuffle(order)
    return order


@dataclass(frozen=True, eq=False)
class BatchLayout:
    """Which rows make global batch k: the one layout of the single-process stream and Ray Train's ranks.

    Batch k holds rows ``[k·B, (k+1)·B)`` of the epoch orders laid end to end (epoch e shuffled with
    ``seed + e``), so batches run across epoch edges and batch k is the same rows whether a run started at
    0 or resumed at k (its data position, ``batches_drawn``). ``epochs`` ends the sequence after that many
    passes (its last batch may be short); None: endless. Rank r of W workers reads the r-th ``B / W``
    slice of every global batch, so the union over ranks is the single-process batch.
    """

    rows: Sequence[dict]
    batch_size: int
    seed: int = 0
    shuffle: bool = True
    epochs: int | None = None

    def __post_init__(self):
        if not self.rows:
            raise ValueError("no training rows: the filtered train set is empty")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")

    @property
    def num_batches(self) -> int | None:
        """How many batches the sequence has (None: endless)."""
        return None if self.epochs is None else -(-self.epochs * len(self.rows) // self.batch_size)

    def batch_rows(self, batches_drawn: int, count: int, world: int = 1, rank: int = 0) -> list[dict]:
        """The rows of global batches ``batches_drawn .. batches_drawn + count - 1`` in order (fewer where
        the sequence ends), each cut to rank ``rank``'s ``batch_size // world`` slice of it."""
        if batches_drawn < 0:
            raise ValueError(f"batches_drawn must be >= 0, got {batches_drawn}")
        if self.batch_size % world:
            raise ValueError(
                f"the batch of {self.batch_size} prompts (data.rollout_batch_size) must be a multiple of "
                f"the {world} workers"
            )
        n, per = len(self.rows), self.batch_size // world
        start, end = batches_drawn * self.batch_size, (batches_drawn + count) * self.batch_size
        if self.epochs is not None:
            end = min(end, self.epochs * n)
        first = start // n  # the epochs before it are not built: the positions are offset by first·n
        epochs = range(first, -(-end // n))
        order = [r for e in epochs for r in epoch_order(self.rows, self.seed, e, self.shuffle)]
        out = []
        for k in range(batches_drawn, batches_drawn + count):
            lo = k * self.batch_size + rank * per
            out += order[lo - first * n : min(lo + per, end) - first * n]
        return out


# ---- the Ray Data reader: rows -> TrainItem batches with their frames -------------------------------
# Batches whose frames are read ahead of the consumer, each by its own thread of Ray Data's formatting pool
# (``iter_torch_batches(prefetch_batches=...)``): the parallelism of the fetch and the bound on the frames
# held ahead (benchmarks/ray_data_bench.py measured 2 against 1 on this 2-core machine).
FETCH_AHEAD = 2
# Rows are small (text and digests): a few large blocks. Ray's default of one block per row for a short list
# cost ~0.2-0.3 s per stream of 36 rows here (per-block object and executor overhead), 1-9 blocks ~0.05 s.
ROWS_PER_BLOCK = 1024


def rows_dataset(rows: list[dict]):
    """Prepared rows, in this order, as a Ray dataset (no frames: ``item_batches`` fetches them)."""
    import ray

    ensure_ray()
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # deterministic order (resume needs it)
    ctx.enable_progress_bars = False
    blocks = max(1, -(-len(rows) // ROWS_PER_BLOCK))
    return ray.data.from_items([to_ray_row(r) for r in rows], override_num_blocks=blocks)


def item_batches(
    source, cache_root: str, batch_size: int, fetch_ahead: int | None = None, media: MediaSource = FROM_CACHE
) -> Iterator[list[TrainItem]]:
    """``TrainItem`` batches of ``batch_size`` from a ``rows_dataset`` or a Ray Train worker's shard of one,
    in order (the last may be short), each batch's frames fetched by ``FetchFrames`` (from the cache at
    ``cache_root``, or decoded, as ``media`` says), ``fetch_ahead`` (default ``FETCH_AHEAD``) batches in
    parallel ahead of the consumer; 0: each batch's frames are fetched when it is asked for, in the
    consumer's thread (Ray Data's iterator reads its rows ahead even at ``prefetch_batches=0``)."""
    if fetch_ahead == 0:
        collate = FetchFrames(cache_root, media)
        rows = source.iter_batches(
            batch_size=batch_size, batch_format="numpy", drop_last=False, prefetch_batches=0
        )
        return (collate(batch) for batch in rows)
    return iter(
        source.iter_torch_batches(
            batch_size=batch_size,
            collate_fn=FetchFrames(cache_root, media),
            drop_last=False,
            prefetch_batches=FETCH_AHEAD if fetch_ahead is None else fetch_ahead,
        )
    )


def stream_batches(
    rows: list[dict],
    cache_root: str,
    batch_size: int,
    seed: int = 0,
    shuffle: bool = True,
    epochs: int | None = None,
    num_batches: int | None = None,
    batches_drawn: int = 0,
    media: MediaSource = FROM_CACHE,
    fetch_ahead: int | None = None,
) -> Iterator[list[TrainItem]]:
    """``TrainItem`` batches over ``epochs`` passes (or exactly ``num_batches`` batches, which wins when both
    are given; endless if neither), beginning at batch ``batches_drawn`` (a resumed run's data position)
    of the ``BatchLayout``. An endless stream reads ``ENDLESS_CHUNK_EPOCHS`` epochs' worth of whole batches
    per Ray dataset. ``media``: where the frames come from (``data.media_source`` and the cache's spec);
    ``fetch_ahead``: batches fetched ahead of the consumer (default ``FETCH_AHEAD``; 0: each batch is fetched
    when it is asked for, in the consumer's thread).
    """
    layout = BatchLayout(rows, batch_size, seed, shuffle, None if num_batches is not None else epochs)
    if batches_drawn < 0:
        raise ValueError(f"batches_drawn must be >= 0, got {batches_drawn}")
    end = layout.num_batches if num_batches is None else batches_drawn + num_batches
    chunk = -(-ENDLESS_CHUNK_EPOCHS * len(rows) // batch_size)
    k = batches_drawn
    while end is None or k < end:
        count = chunk if end is None else end - k
        yield from item_batches(
            rows_dataset(layout.batch_rows(k, count)),
            cache_root,
            batch_size,
            fetch_ahead=fetch_ahead,
            media=media,
        )
        k += count


def sample_to_row(sample) -> dict:
    """A loaded ``training.data.samples.Sample`` as a prepared row (media digests are added by the cache)."""
    media = [{"source": p, "kind": "video"} for p in sample.videos] + [
        {"source": p, "kind": "image"} for p in sample.images
    ]
    return {
        "sample_id": str(sample.problem_id),
        "problem": sample.problem,
        "problem_type": sample.problem_type,
        "data_type": sample.data_type,
        "answer": sample.answer,
        "options": list(sample.options),
        "media": media,
        "extra": dict(sample.extra),
    }
