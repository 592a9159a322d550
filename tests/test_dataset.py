"""Sample loading from EasyR1 / EasyVideoR1 / Video-R1 files: exact mapping, and errors naming file:line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from demo_kit.synthetic import make_demo_dataset
from training import rewards
from training.data.samples import (
    DatasetError,
    InvalidRows,
    OutsideMediaRoot,
    RowProblem,
    Sample,
    load_samples,
    write_samples_jsonl,
)

KNOWN = {"multiple choice", "numerical", "temporal grounding", "spatial grounding", "boolean"}


def strict(name: str) -> str:
    """A test resolver: lower-cases and rejects anything outside KNOWN (like the reward registry)."""
    if name.lower() not in KNOWN:
        raise KeyError(f"unknown problem_type {name!r}")
    return name.lower()


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


VIDEO_R1_ROW = {
    "problem_id": 17,
    "problem": "Which colour appears first?",
    "data_type": "video",
    "problem_type": "Multiple Choice",
    "options": ["A. red", "B. green"],
    "process": "<think>red came first</think>",
    "solution": "<answer> B </answer>",
    "path": "./clips/a.mp4",
    "data_source": "LLaVA-Video-178K",
}


def test_video_r1_jsonl_row_maps_exactly(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [VIDEO_R1_ROW])
    assert load_samples(path, resolve_problem_type=strict, check_media=False) == [
        Sample(
            problem_id="17",
            problem="Which colour appears first?",
            problem_type="multiple choice",
            data_type="video",
            answer="B",
            options=["A. red", "B. green"],
            videos=[str(tmp_path / "clips" / "a.mp4")],
            images=[],
            extra={"process": "<think>red came first</think>", "data_source": "LLaVA-Video-178K"},
        )
    ]


def test_easyr1_json_list_with_fallback_keys_ids_and_media_root(tmp_path):
    rows = [
        {"prompt": "How many squares?", "answer": 3, "images": ["img/x.png"], "problem_type": "numerical"},
        {
            "question": "When is the flash?",
            "answer": {"time": [1.0, 2.5]},
            "videos": ["/abs/v.mp4"],
            "problem_type": "temporal grounding",
            "solution": "<answer>ignored</answer>",
        },
        {
            "problem": "Is it red?",
            "answer": "yes",
            "videos": ["s3://bucket/v.mp4"],
            "problem_type": "boolean",
            "options": None,
        },
    ]
    path = tmp_path / "data.json"
    path.write_text(json.dumps(rows))
    # /abs/v.mp4 lies outside the media root: listed on purpose, so the opt-out
    got = load_samples(
        path,
        tmp_path / "media",
        resolve_problem_type=strict,
        allow_outside_media_root=True,
        check_media=False,
    )
    assert [(s.problem_id, s.problem, s.answer, s.data_type) for s in got] == [
        ("data.json#0", "How many squares?", "3", "image"),
        ("data.json#1", "When is the flash?", '{"time": [1.0, 2.5]}', "video"),
        ("data.json#2", "Is it red?", "yes", "video"),
    ]
    assert got[0].images == [str(tmp_path / "media" / "img" / "x.png")] and got[0].videos == []
    assert got[1].videos == ["/abs/v.mp4"] and got[1].extra == {"solution": "<answer>ignored</answer>"}
    assert got[2].videos == ["s3://bucket/v.mp4"] and got[2].options == []


def test_parquet_rows_and_text_only_samples(tmp_path):
    table = pa.Table.from_pylist(
        [
            {"problem": "2+2?", "answer": "4", "problem_type": "numerical", "videos": [], "images": []},
            {
                "problem": "Where?",
                "answer": '{"boxes": [1, 2, 3, 4]}',
                "problem_type": "spatial grounding",
                "videos": [],
                "images": ["a.png"],
            },
        ]
    )
    pq.write_table(table, tmp_path / "d.parquet")
    got = load_samples(tmp_path / "d.parquet", resolve_problem_type=strict, check_media=False)
    assert [(s.problem_id, s.data_type, s.images) for s in got] == [
        ("d.parquet#0", "text", []),
        ("d.parquet#1", "image", [str(tmp_path / "a.png")]),
    ]


def test_missing_ids_count_blank_lines(tmp_path):
    path = write_jsonl(
        tmp_path / "t.jsonl", ["", {"problem": "q", "answer": "yes", "problem_type": "boolean"}]
    )
    assert load_samples(path, resolve_problem_type=strict)[0].problem_id == "t.jsonl:2"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("{not json", "t.jsonl:2: invalid JSON"),
        ('["a list"]', "t.jsonl:2: expected a JSON object, got list"),
        (
            {"answer": "B", "problem_type": "boolean"},
            "t.jsonl:2: missing problem text; add a non-empty string",
        ),
        ({"problem": "  ", "answer": "B", "problem_type": "boolean"}, "t.jsonl:2: missing problem text"),
        ({"problem": "q", "problem_type": "boolean"}, "t.jsonl:2: missing answer; add the ground truth"),
        (
            {"problem": "q", "solution": "<answer></answer>", "problem_type": "boolean"},
            "t.jsonl:2: missing answer",
        ),
        ({"problem": "q", "answer": "B"}, "t.jsonl:2: missing problem_type"),
        (
            {"problem": "q", "answer": "B", "problem_type": "juggling"},
            "t.jsonl:2: unknown problem_type 'juggling'; fix the row's problem_type",
        ),
        (
            {"problem": "q", "answer": "B", "problem_type": "boolean", "videos": 5},
            "t.jsonl:2: 'videos' must be a list of file paths, got int",
        ),
        (
            {"problem": "q", "answer": "B", "problem_type": "boolean", "images": [{"bytes": "..."}]},
            "t.jsonl:2: 'images' entries must be non-empty path strings",
        ),
        (
            {"problem": "q", "answer": "B", "problem_type": "boolean", "path": "clip.xyz"},
            "t.jsonl:2: cannot tell whether 'path' 'clip.xyz' is a video or an image",
        ),
        (
            {
                "problem": "q",
                "answer": "B",
                "problem_type": "boolean",
                "path": "v.mp4",
                "image_path": "i.png",
            },
            "t.jsonl:2: has both videos",
        ),
        (
            {
                "problem": "q",
                "answer": "B",
                "problem_type": "boolean",
                "videos": ["v.mp4"],
                "data_type": "image",
            },
            "t.jsonl:2: data_type is 'image' but the sample has video media",
        ),
        (
            {"problem": "q", "answer": "B", "problem_type": "boolean", "data_type": "video"},
            "t.jsonl:2: data_type is 'video' but the sample has no media",
        ),
        (
            {"problem": "q", "answer": "B", "problem_type": "boolean", "data_type": "audio"},
            "t.jsonl:2: data_type 'audio' is not one of",
        ),
        (
            {"problem": "q", "answer": "B", "problem_type": "boolean", "options": "A. x"},
            "t.jsonl:2: 'options' must be a list of strings",
        ),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, row, message):
    good = {"problem": "ok", "answer": "yes", "problem_type": "boolean"}
    path = write_jsonl(tmp_path / "t.jsonl", [good, row, good])
    with pytest.raises(DatasetError, match=re.escape(str(tmp_path / message))):
        load_samples(path, resolve_problem_type=strict)


def test_file_level_errors(tmp_path):
    (tmp_path / "d.json").write_text('{"problem": "q"}')
    with pytest.raises(DatasetError, match=r"d\.json: top level is dict; expected a JSON list"):
        load_samples(tmp_path / "d.json")
    (tmp_path / "d.json").write_text('[{"problem": "q", "answer": "B", "problem_type": "boolean"}, 3]')
    with pytest.raises(DatasetError, match=r"d\.json record 1: expected a JSON object, got int"):
        load_samples(tmp_path / "d.json", resolve_problem_type=strict)
    (tmp_path / "d.csv").write_text("a,b\n")
    with pytest.raises(
        DatasetError, match=r"unsupported file type '\.csv'; use \.json, \.jsonl or \.parquet"
    ):
        load_samples(tmp_path / "d.csv")
    with pytest.raises(DatasetError, match="no such file"):
        load_samples(tmp_path / "missing.jsonl")
    with pytest.raises(DatasetError, match="is a directory"):
        load_samples(tmp_path)


def test_default_resolver_is_the_reward_registry(tmp_path):
    path = write_jsonl(
        tmp_path / "t.jsonl", [{"problem": "q", "answer": "B", "problem_type": "Multiple_Choice"}]
    )
    assert load_samples(path)[0].problem_type == rewards.resolve_problem_type("Multiple_Choice")
    write_jsonl(path, [{"problem": "q", "answer": "B", "problem_type": "juggling"}])
    with pytest.raises(DatasetError, match=r"t\.jsonl:1: unknown problem_type 'juggling'"):
        load_samples(path)
    assert load_samples(path, resolve_problem_type=lambda name: name)[0].problem_type == "juggling"


def test_demo_dataset_loads_and_round_trips(tmp_path):
    demo = make_demo_dataset(tmp_path / "demo", n_train=6, n_val=1)
    samples = load_samples(demo.train)
    assert len(samples) == 6
    for s, raw in zip(samples, (orjson.loads(line) for line in demo.train.read_bytes().splitlines())):
        assert s.problem_id == raw["problem_id"] and s.answer == raw["answer"]
        assert s.extra["solution"] == f"<answer>{raw['answer']}</answer>"
        assert all(Path(p).is_file() for p in s.videos + s.images)
        assert bool(s.videos) == (s.data_type == "video") and bool(s.images) == (s.data_type == "image")
    out = write_samples_jsonl(samples, tmp_path / "copy" / "samples.jsonl", media_root=demo.root)
    assert '"videos":["media/train/' in out.read_text()  # relative to the media root: confined on reload
    assert load_samples(out, media_root=demo.root) == samples
    bad = Sample("x", "q", "boolean", "text", "yes", extra={"videos": ["v.mp4"]})
    with pytest.raises(DatasetError, match=r"sample 'x': extra keys \['videos'\] would shadow"):
        write_samples_jsonl([bad], tmp_path / "bad.jsonl")


def test_media_paths_outside_the_media_root_are_refused(tmp_path):
    """`..`, an absolute path and a symlink that lead out of the media root are refused (naming file, line and
    the fix), or skipped and recorded when the caller collects them; an explicit opt-out allows them."""
    root, outside = tmp_path / "media", tmp_path / "private"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.mp4").write_bytes(b"x")
    (root / "link.mp4").symlink_to(outside / "secret.mp4")
    (root / "sub").mkdir()
    (root / "ok.mp4").write_bytes(b"x")
    (root / "sub" / "inside.mp4").write_bytes(b"x")
    row = {"problem": "?", "answer": "A", "problem_type": "boolean"}
    data = write_jsonl(
        tmp_path / "rows.jsonl",
        [
            {**row, "videos": ["ok.mp4"]},
            {**row, "videos": ["../private/secret.mp4"]},
            {**row, "videos": [str(outside / "secret.mp4")]},
            {**row, "images": ["link.mp4"]},
            {**row, "videos": [str(root / "sub" / "inside.mp4")]},  # absolute, but under the root
            {**row, "videos": ["s3://bucket/remote.mp4"]},  # a URI is not a local path
        ],
    )
    with pytest.raises(DatasetError) as err:
        load_samples(data, media_root=root, resolve_problem_type=strict)
    message = str(err.value)
    assert f"{data}:2:" in message and "../private/secret.mp4" in message and str(root) in message
    assert "allow_outside_media_root" in message and "--allow-outside-media-root" in message

    skipped: list[str] = []
    kept = load_samples(data, media_root=root, resolve_problem_type=strict, skipped=skipped)
    assert [s.problem_id for s in kept] == ["rows.jsonl:1", "rows.jsonl:5", "rows.jsonl:6"]
    assert [m.split(": ")[0] for m in skipped] == [f"{data}:2", f"{data}:3", f"{data}:4"]

    every = load_samples(data, media_root=root, resolve_problem_type=strict, allow_outside_media_root=True)
    assert len(every) == 6 and every[1].videos == [str(root / "../private/secret.mp4")]


def test_the_default_media_root_is_the_files_folder(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    rows = [{"problem": "?", "answer": "A", "problem_type": "boolean", "videos": ["../up.mp4"]}]
    data = write_jsonl(tmp_path / "data" / "rows.jsonl", rows)
    (tmp_path / "up.mp4").write_bytes(b"x")
    with pytest.raises(DatasetError, match=r"rows.jsonl:1: .*outside the media root"):
        load_samples(data, resolve_problem_type=strict)
    monkeypatch.setenv("REELRL_ALLOW_OUTSIDE_MEDIA_ROOT", "1")  # the documented opt-out for every door
    assert load_samples(data, resolve_problem_type=strict)[0].videos == [str(tmp_path / "data" / "../up.mp4")]


def bad_rows_file(tmp_path: Path) -> Path:
    """Good rows (lines 1, 10) around one bad row of each kind; the media of every row but line 9 exist."""
    (tmp_path / "v.mp4").write_bytes(b"x")  # existence is checked here, decoding by the media cache
    mc = {"problem": "Which colour?", "problem_type": "multiple choice", "videos": ["v.mp4"]}
    return write_jsonl(
        tmp_path / "t.jsonl",
        [
            {**mc, "problem_id": "ok-1", "options": ["A. red", "B. blue"], "answer": "B"},
            {**mc, "problem_id": "mc-e", "options": ["A. red", "B. blue"], "answer": "E"},
            {**mc, "problem_id": "tg", "problem_type": "temporal grounding", "answer": "at the beginning"},
            {**mc, "problem_id": "num", "problem_type": "numerical", "answer": "abc"},
            {**mc, "problem_id": "dup", "options": ["A. red", "A. blue"], "answer": "A"},
            {**mc, "problem_id": "empty", "options": ["A. red", "B."], "answer": "A"},
            {**mc, "problem_id": "noq", "problem": "", "options": ["A. red", "B. blue"], "answer": "A"},
            "{not json",
            {**mc, "problem_id": "lost", "options": ["A. red"], "answer": "A", "videos": ["lost.mp4"]},
            {**mc, "problem_id": "ok-10", "problem_type": "numerical", "answer": "3"},
        ],
    )


def test_every_invalid_row_of_a_file_is_reported_together(tmp_path):
    """Answers their problem type cannot hold, inconsistent options, a malformed row, a bad JSON line and a
    missing media file: one error lists them all, each with file:line, sample id and the fix."""
    path = bad_rows_file(tmp_path)
    with pytest.raises(InvalidRows) as err:
        load_samples(path)
    problems = err.value.problems
    assert [(p.where, p.sample_id) for p in problems] == [
        (f"{path}:{n}", sid)
        for n, sid in [
            (2, "mc-e"),
            (3, "tg"),
            (4, "num"),
            (5, "dup"),
            (6, "empty"),
            (7, "noq"),
            (8, "t.jsonl:8"),
        ]
        + [(9, "lost")]
    ]
    expected = [
        (
            "answer 'E' is not a valid 'multiple choice' ground truth: multiple-choice ground truth 'E' is not "
            "one of the options ['A', 'B']"
        ),
        "answer 'at the beginning' is not a valid 'temporal grounding' ground truth",
        "answer 'abc' is not a valid 'numerical' ground truth",
        "options repeat the label(s) ['A']",
        "option(s) [1] (0-based) are empty",
        "missing problem text; add a non-empty string under 'problem'",
        "invalid JSON",
        f"video {str(tmp_path / 'lost.mp4')!r} does not exist; fix the path",
    ]
    for problem, text in zip(problems, expected, strict=True):
        assert text in problem.message
    message = str(err.value)
    assert message.startswith(f"{path}: 8 invalid row(s)")
    for problem in problems:
        assert str(problem) in message and f"[sample {problem.sample_id!r}]" in str(problem)
    assert "fix the answer, the options or the problem_type" in problems[0].message


def test_skip_invalid_drops_the_invalid_rows_and_lists_them(tmp_path):
    path = bad_rows_file(tmp_path)
    invalid: list[RowProblem] = []
    kept = load_samples(path, skip_invalid=True, invalid=invalid)
    assert [s.problem_id for s in kept] == ["ok-1", "ok-10"]
    assert len(invalid) == 8 and {p.sample_id for p in invalid} >= {"mc-e", "tg", "num", "lost"}
    # a row both outside the media root and otherwise fine is still the caller's `skipped` when it asks
    (tmp_path / "data").mkdir()
    row = {"problem": "?", "answer": "yes", "problem_type": "boolean"}
    (tmp_path / "data" / "in.mp4").write_bytes(b"x")
    data = write_jsonl(
        tmp_path / "data" / "r.jsonl",
        [{**row, "videos": ["in.mp4"]}, {**row, "videos": ["../v.mp4"]}, {**row, "answer": "maybe"}],
    )
    skipped: list[str] = []
    invalid = []
    kept = load_samples(data, skipped=skipped, skip_invalid=True, invalid=invalid)
    assert [s.problem_id for s in kept] == ["r.jsonl:1"]
    assert [m.split(": ")[0] for m in skipped] == [f"{data}:2"]
    assert [(p.where, p.outside_media_root) for p in invalid] == [(f"{data}:3", False)]
    with pytest.raises(OutsideMediaRoot):  # outside rows alone, nobody collecting them: still that error
        load_samples(write_jsonl(tmp_path / "data" / "o.jsonl", [{**row, "videos": ["../v.mp4"]}]))
