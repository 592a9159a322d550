"""Synthetic known-answer media: determinism, decodability, and ground truth recovered from pixels."""

from __future__ import annotations

import json
import math
from pathlib import Path

import decord
import numpy as np
import orjson
import pytest
from PIL import Image

from demo_kit.synthetic import TASKS, make_charades_standins, make_demo_dataset, parse_charades_annotations
from demo_kit.synthetic.charades import lit_frames
from demo_kit.synthetic.render import PALETTE

CHARADES_SAMPLE = Path("/work/shared/benchmarks/charades_sta/charades_sta_test.sample.txt")
FPS = 8


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    return make_demo_dataset(root, n_train=18, n_val=6, seed=7)


def _records(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def _frames(path: Path) -> np.ndarray:
    """All decoded frames (T, H, W, 3) uint8; an image is one frame."""
    if path.suffix == ".png":
        return np.asarray(Image.open(path).convert("RGB"))[None]
    vr = decord.VideoReader(str(path))
    return vr.get_batch(list(range(len(vr)))).asnumpy()


def _components(mask: np.ndarray) -> list[np.ndarray]:
    """4-connected components of a boolean (H, W) mask, each as an (N, 2) array of (y, x)."""
    seen, comps = np.zeros_like(mask), []
    for y0, x0 in zip(*np.nonzero(mask)):
        if seen[y0, x0]:
            continue
        stack, pix = [(y0, x0)], []
        seen[y0, x0] = True
        while stack:
            y, x = stack.pop()
            pix.append((y, x))
            for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    stack.append((ny, nx))
        comps.append(np.array(pix))
    return comps


def _nearest_colour(rgb: np.ndarray) -> str:
    return min(PALETTE, key=lambda name: float(np.abs(np.array(PALETTE[name]) - rgb).sum()))


def _option_text(record: dict) -> str:
    return next(o[3:] for o in record["options"] if o.startswith(record["answer"] + ". "))


def test_same_seed_gives_identical_files_and_other_seed_differs(demo, tmp_path):
    again = make_demo_dataset(tmp_path / "again", n_train=18, n_val=6, seed=7)
    other = make_demo_dataset(tmp_path / "other", n_train=18, n_val=6, seed=8)
    assert again.train.read_bytes() == demo.train.read_bytes()
    assert again.val.read_bytes() == demo.val.read_bytes()
    media = sorted(p.relative_to(demo.root) for p in demo.media.rglob("*") if p.is_file())
    assert media == sorted(p.relative_to(again.root) for p in again.media.rglob("*") if p.is_file())
    assert len(media) == 24
    for rel in media:
        assert (demo.root / rel).read_bytes() == (again.root / rel).read_bytes(), rel
    assert other.train.read_bytes() != demo.train.read_bytes()


def test_records_follow_schema_and_media_decodes(demo):
    train, test = _records(demo.train), _records(demo.val)
    assert [r["problem_id"] for r in train[:2]] == [
        "train-00000-colour_order",
        "train-00001-motion_direction",
    ]
    assert len(train) == 18 and len(test) == 6
    assert {r["problem_type"] for r in test} == {
        "multiple choice",
        "numerical",
        "temporal grounding",
        "spatial grounding",
        "boolean",
    }
    assert {r["data_type"] for r in train} == {"image", "video"}
    for r in train + test:
        assert r["solution"] == f"<answer>{r['answer']}</answer>"
        assert r["process"].startswith("<think>") and r["process"].endswith("</think>")
        media = r["videos"] if r["data_type"] == "video" else r["images"]
        other = r["images"] if r["data_type"] == "video" else r["videos"]
        assert media == [r["path"]] and other == []
        frames = _frames(demo.root / r["path"])
        assert frames.shape[1:] == (64, 64, 3)
        if r["data_type"] == "video":
            assert r["path"].endswith(".mp4") and 2 * FPS <= frames.shape[0] <= 8 * FPS
            assert decord.VideoReader(str(demo.root / r["path"])).get_avg_fps() == FPS
        if r["problem_type"] == "multiple choice":
            assert [o[:3] for o in r["options"]] == ["A. ", "B. ", "C. ", "D. "]
            assert r["answer"] in "ABCD"
        else:
            assert r["options"] == []


def test_counts_match_pixels(demo):
    counts = [r for r in _records(demo.train) if r["problem_type"] == "numerical"]
    assert {r["data_type"] for r in counts} == {"image", "video"}
    for r in counts:
        frames = _frames(demo.root / r["path"])
        for frame in frames[:: max(1, len(frames) // 3)]:
            assert len(_components(frame.max(axis=-1) > 100)) == int(r["answer"]), r["problem_id"]


def test_flash_interval_matches_pixels(demo):
    events = [
        r for r in _records(demo.train) + _records(demo.val) if r["problem_type"] == "temporal grounding"
    ]
    assert len(events) == 4
    for r in events:
        bright = np.nonzero(_frames(demo.root / r["path"]).mean(axis=(1, 2, 3)) > 128)[0]
        assert np.array_equal(bright, np.arange(bright[0], bright[-1] + 1))  # one contiguous flash
        assert json.loads(r["answer"]) == {"time": [bright[0] / FPS, (bright[-1] + 1) / FPS]}


def test_box_matches_pixels_exactly(demo):
    boxes = [r for r in _records(demo.train) if r["problem_type"] == "spatial grounding"]
    assert boxes
    for r in boxes:
        ys, xs = np.nonzero(_frames(demo.root / r["path"])[0].max(axis=-1) > 100)
        assert json.loads(r["answer"]) == {"boxes": [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]}


def test_colour_order_direction_and_red_match_pixels(demo):
    assert {r["answer"] for r in _records(demo.train) if r["problem_type"] == "boolean"} == {"yes", "no"}
    for r in _records(demo.train):
        frames = _frames(demo.root / r["path"])
        if r["data_source"].endswith("colour_order"):
            seen = []
            for phase in range(3):
                frame = frames[phase * FPS + FPS // 2]
                seen.append(_nearest_colour(frame[frame.max(axis=-1) > 100].mean(axis=0)))
            ordinal = r["problem"].split("appears ")[1].rstrip("?")
            assert _option_text(r) == seen[{"first": 0, "second": 1, "last": 2}[ordinal]]
        elif r["data_source"].endswith("motion_direction"):
            (y0, x0), (y1, x1) = (np.argwhere(f.max(axis=-1) > 100).mean(axis=0) for f in frames[[0, -1]])
            moved = max(
                [("right", x1 - x0), ("left", x0 - x1), ("down", y1 - y0), ("up", y0 - y1)],
                key=lambda kv: kv[1],
            )[0]
            assert _option_text(r) == moved
        elif r["problem_type"] == "boolean":
            red = np.array(PALETTE["red"])
            has_red = bool((np.abs(frames[0].astype(int) - red).max(axis=-1) < 40).sum() > 9)
            assert r["answer"] == ("yes" if has_red else "no"), r["problem_id"]


def test_bad_arguments_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="even"):
        make_demo_dataset(tmp_path, n_train=1, n_val=1, size=(63, 64))
    with pytest.raises(ValueError, match="unknown synthetic tasks"):
        make_demo_dataset(tmp_path, n_train=1, n_val=1, tasks=["juggling"])
    assert set(TASKS) == {
        "colour_order",
        "motion_direction",
        "object_count",
        "event_time",
        "box_location",
        "red_present",
    }


def test_charades_standins_for_the_shared_sample(tmp_path):
    rows = parse_charades_annotations(CHARADES_SAMPLE)
    assert rows[0] == ("3MSZA", 24.3, 30.4, "person turn a light on.")
    paths = make_charades_standins(CHARADES_SAMPLE, tmp_path, fps=4)
    assert [p.name for p in paths] == [f"{vid}.mp4" for vid, *_ in rows]  # the sample has unique ids
    for (vid, start, end, _), path in zip(rows, paths):
        frames = _frames(path)
        assert frames.shape[0] == math.ceil((end + 2) * 4)
        lit = frames.mean(axis=(1, 2, 3)) > 128
        assert np.array_equal(lit, lit_frames(start, end, 4, frames.shape[0])), vid
        centres = (np.nonzero(lit)[0] + 0.5) / 4
        assert centres.min() >= start and centres.max() < end
        assert abs(centres.min() - start) <= 0.25 and abs(centres.max() - end) <= 0.25


def test_charades_repeated_ids_short_moments_and_bad_lines(tmp_path):
    ann = tmp_path / "ann.txt"
    ann.write_text("AAA 1.0 3.0##first.\n\nAAA 2.0 5.0##second.\nBBB 1.1 1.15##blink.\n")
    a, b = make_charades_standins(ann, tmp_path / "out", fps=4)
    frames = _frames(a)
    assert frames.shape[0] == 28
    left = frames[:, :, :32].mean(axis=(1, 2, 3)) > 128  # cell 0 of a 2-cell grid: left half
    right = frames[:, :, 32:].mean(axis=(1, 2, 3)) > 128
    assert np.nonzero(left)[0].tolist() == list(range(4, 12))  # centres 1.125 .. 2.875 s
    assert np.nonzero(right)[0].tolist() == list(range(8, 20))
    assert np.nonzero(_frames(b).mean(axis=(1, 2, 3)) > 128)[0].tolist() == [4]
    ann.write_text("AAA 1.0 3.0##ok.\nBBB three 4##bad.\n")
    with pytest.raises(ValueError, match=r"ann\.txt:2: expected"):
        make_charades_standins(ann, tmp_path / "bad")
    ann.write_text("AAA 3.0 1.0##backwards.\n")
    with pytest.raises(ValueError, match=r"ann\.txt:1: end 1.0 must be greater than start 3.0"):
        parse_charades_annotations(ann)


def test_a_learnable_task_by_name_with_answer_only_targets(tmp_path):
    """The demo's set: ``red_before_blue`` (in LEARNABLE_TASKS, not TASKS) asked for by name, balanced yes/no,
    with an empty rationale, so the SFT target and the offline trajectory are the answer alone."""
    paths = make_demo_dataset(tmp_path, n_train=4, n_val=2, tasks=["red_before_blue"], rationale=False)
    rows = _records(paths.train)
    assert [r["answer"] for r in rows] == ["yes", "no", "yes", "no"]
    assert all(r["process"] == "" and r["offline_output"] == f"<answer>{r['answer']}</answer>" for r in rows)
    assert {r["data_source"] for r in rows} == {"reelrl-synthetic/red_before_blue"}
    assert all(_frames(paths.root / r["path"]).shape[0] == 4 * FPS for r in rows)
    with_reasoning = _records(
        make_demo_dataset(tmp_path / "r", n_train=1, n_val=1, tasks=["red_before_blue"]).train
    )
    assert with_reasoning[0]["process"].startswith("<think>The red rectangle")
