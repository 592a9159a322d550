"""Reading frames stored with Lance blob encoding: one positioned read of the data file per sample.

Stores created since the blob layout (``schema.FRAMES_BLOB``) keep each sample's uint8 frames out of line
in the fragment's data file; scanning the ``frames`` column then returns a description
``{position, size}`` instead of the bytes (Lance's documented blob behaviour). A read is therefore:

1. one query for the metadata columns, the descriptions and the row addresses (no frame bytes);
2. per sample, ``readinto`` a fresh NumPy buffer of ``size`` bytes at ``position`` of the data file that
   holds the ``frames`` field of the row's fragment (fragment id = row address >> 32;
   ``LanceFragment.data_files()`` names the file and the field ids it holds).

Why not Lance's own blob reads: on the benchmark store every public Lance read of one 47 MB value
(``to_table`` of an inline column in file formats 2.0-2.2, ``take_blobs(...).readall()``, ``read_blobs``)
took 25-150 ms, while reading the same page-cached bytes with ``np.fromfile`` took 3-20 ms; the positioned
read costs what ``np.fromfile`` costs. It is only used for local stores whose data file is where the
manifest says; otherwise (a remote URI, a file moved by a concurrent compaction) ``Dataset.read_blobs``
serves the bytes, so a read is never wrong, only slower. Tests compare both paths byte for byte.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import lance
import numpy as np

BLOB_KEY = b"lance-encoding:blob"


def is_blob_field(ds: lance.LanceDataset, name: str = "frames") -> bool:
    """Whether ``name`` is stored with blob encoding in this dataset."""
    metadata = ds.schema.field(name).metadata or {}
    return metadata.get(BLOB_KEY, b"").lower() == b"true"


class BlobFiles:
    """Fragment id -> local path of the data file holding the ``frames`` field, for one dataset version."""

    def __init__(self, ds: lance.LanceDataset, local_root: str | None, field: str = "frames"):
        self.ds, self.local_root = ds, local_root
        self.field_id = ds.lance_schema.field(field).id()
        self._paths: dict[int, str | None] = {}

    def path(self, fragment_id: int) -> str | None:
        """The data file's local path, or None when there is none to read directly (remote store, file
        not found where expected)."""
        if fragment_id not in self._paths:
            self._paths[fragment_id] = self._find(fragment_id)
        return self._paths[fragment_id]

    def _find(self, fragment_id: int) -> str | None:
        if self.local_root is None:
            return None
        fragment = self.ds.get_fragment(fragment_id)
        if fragment is None:
            return None
        for data_file in fragment.data_files():
            if self.field_id in data_file.fields and data_file.base_id is None:
                path = os.path.join(self.local_root, "data", data_file.path)
                return path if os.path.isfile(path) else None
        return None


def pread_exact(path: str, position: int, size: int) -> np.ndarray:
    """``size`` bytes at ``position`` of ``path`` in a fresh writable uint8 array; OSError if short."""
    out = np.empty(size, dtype=np.uint8)
    view = memoryview(out)
    with open(path, "rb", buffering=0) as handle:
        handle.seek(position)
        done = 0
        while done < size:
            n = handle.readinto(view[done:])
            if not n:
                raise OSError(f"{path}: expected {size} bytes at offset {position}, file ended after {done}")
            done += n
    return out


def read_frames(
    ds: lance.LanceDataset, files: BlobFiles, rows: Sequence[dict[str, Any]]
) -> list[np.ndarray | None]:
    """The frame bytes of ``rows`` (each with ``frames`` = ``{position, size}`` and ``_rowaddr``), by
    positioned reads where possible; None for a null value. Rows whose file cannot be read directly are
    fetched in one ``read_blobs`` call."""
    out: list[np.ndarray | None] = [None] * len(rows)
    fallback: list[int] = []
    for i, row in enumerate(rows):
        where = row["frames"]
        if where is None:
            continue
        path = files.path(int(row["_rowaddr"]) >> 32)
        if path is None:
            fallback.append(i)
            continue
        try:
            out[i] = pread_exact(path, int(where["position"]), int(where["size"]))
        except OSError:  # compacted away under us: let Lance resolve the row
            fallback.append(i)
    if fallback:
        got = ds.read_blobs(
            "frames", addresses=[int(rows[i]["_rowaddr"]) for i in fallback], preserve_order=True
        )
        for i, (_, data) in zip(fallback, got, strict=True):
            out[i] = None if data is None else np.frombuffer(data, dtype=np.uint8)
    return out


def rows_with_frames(ds: lance.LanceDataset, filter: str | None = None) -> list[dict[str, Any]]:
    """Entries rows as dicts with ``frames`` as bytes, read by Lance itself (``read_blobs``) on either
    layout: for exports and checks of every row; ``MediaCache.get_many`` is the fast path by digest."""
    if not is_blob_field(ds):
        return ds.to_table(filter=filter).to_pylist()
    rows = ds.to_table(filter=filter, with_row_address=True).to_pylist()
    blobs = dict(ds.read_blobs("frames", addresses=[r["_rowaddr"] for r in rows])) if rows else {}
    for row in rows:
        row["frames"] = blobs[row.pop("_rowaddr")]
    return rows
