"""The one batch layout (``training.data.stream.BatchLayout``) that the single-process stream and the Ray Train ranks
share: batch k is the same rows however the run got there, and the stream honours it across the edges of
the Ray datasets it builds. Pure Python: the Ray Data reader is replaced by a list."""

from __future__ import annotations

import itertools

import pytest

from training.data import stream as data
from training.data.stream import ENDLESS_CHUNK_EPOCHS, BatchLayout, epoch_order, stream_batches


def ids(batches) -> list[list[str]]:
    return [[r["sample_id"] for r in b] for b in batches]


@pytest.fixture
def no_ray(monkeypatch):
    """``stream_batches`` over plain rows: the reader hands the rows back, in order, in batches."""
    monkeypatch.setattr(data, "rows_dataset", lambda rows: list(rows))
    monkeypatch.setattr(
        data,
        "item_batches",
        lambda rows, root, b, fetch_ahead=None, media=None: iter(
            [rows[i : i + b] for i in range(0, len(rows), b)]
        ),
    )


def test_batch_k_is_the_same_rows_from_any_data_position():
    rows = [{"sample_id": str(i)} for i in range(7)]
    layout = BatchLayout(rows, batch_size=3, seed=4)
    laid = [r["sample_id"] for e in range(5) for r in epoch_order(rows, 4, e)]
    whole = layout.batch_rows(0, 10)
    assert [r["sample_id"] for r in whole] == laid[:30]  # batches run across epoch edges
    for k in range(10):
        assert layout.batch_rows(k, 1) == whole[3 * k : 3 * k + 3]
    assert layout.num_batches is None


def test_epochs_end_the_sequence_with_a_short_last_batch():
    rows = [{"sample_id": str(i)} for i in range(5)]
    layout = BatchLayout(rows, batch_size=3, shuffle=False, epochs=2)
    assert layout.num_batches == 4
    assert ids([layout.batch_rows(k, 1) for k in range(5)]) == [
        ["0", "1", "2"], ["3", "4", "0"], ["1", "2", "3"], ["4"], [],
    ]  # fmt: skip
    with pytest.raises(ValueError, match="filtered train set is empty"):
        BatchLayout([], batch_size=2)


def test_an_endless_stream_keeps_whole_batches_across_its_chunks(no_ray):
    """Each Ray dataset of an endless stream holds whole batches, so no batch ends early at a chunk edge
    (7 rows in batches of 3: the 56 rows of 8 epochs are not a whole number of batches)."""
    rows = [{"sample_id": str(i)} for i in range(7)]
    layout = BatchLayout(rows, batch_size=3, seed=1)
    many = 2 * ENDLESS_CHUNK_EPOCHS * len(rows) // 3 + 5  # past the second chunk edge
    for start in (0, 5):
        got = ids(itertools.islice(stream_batches(rows, "cache", 3, seed=1, batches_drawn=start), many))
        assert got == ids([layout.batch_rows(start + k, 1) for k in range(many)])
        assert all(len(b) == 3 for b in got)


def test_a_bounded_stream_is_the_layout_from_its_data_position(no_ray):
    rows = [{"sample_id": str(i)} for i in range(5)]
    layout = BatchLayout(rows, batch_size=2, seed=0)
    got = ids(stream_batches(rows, "cache", 2, seed=0, num_batches=4, batches_drawn=3))
    assert got == ids([layout.batch_rows(k, 1) for k in range(3, 7)])
    one_pass = ids(stream_batches(rows, "cache", 2, shuffle=False, epochs=1))
    assert one_pass == [["0", "1"], ["2", "3"], ["4"]]
    with pytest.raises(ValueError, match="batches_drawn must be >= 0"):
        next(stream_batches(rows, "cache", 2, batches_drawn=-1))
