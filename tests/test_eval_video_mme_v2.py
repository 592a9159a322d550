"""Video-MME-v2 adapter. No record of the release is reachable here (only HF MME-Benchmarks/Video-MME-v2
``test.parquet``), so the tests build a 3-group parquet with pyarrow from the schema the official
``evaluation/test_video_mme_v2.py`` reads (options as one "A. ..\\nB. .." string; level and heads only on
the group's last row, as lmms-eval notes), and check group scores computed by hand."""

import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from evaluation.adapters import get_adapter
from evaluation.official.videomme import (
    extract_characters_regex_v2,
    logic_score,
    relevance_scores,
    v2_question_score,
)

OPTIONS = "\n".join(f"{chr(ord('A') + i)}. choice {i}." for i in range(8))
GROUPS = [  # (video_id, group_type, group_structure, level, second_head, third_head, answers)
    ("001", "relevance", None, 1, "Perception", "Counting", "ABCH"),
    ("002", "logic", "[1, [2, 3], 4]", 2, "Reasoning", "Causal", "DEFG"),
    ("003", "logic", "[[1, 2], 3, 4]", 2, "Reasoning", "Temporal", "HGAB"),
]


def _rows():
    rows = []
    for video, gtype, structure, level, second, third, answers in GROUPS:
        for q, answer in enumerate(answers):
            last = q == 3
            rows.append(
                {
                    "video_id": video,
                    "question": f"Question {q + 1} about video {video}?",
                    "options": OPTIONS,
                    "answer": answer,
                    "group_type": gtype,
                    "group_structure": structure,
                    "level": level if last else None,
                    "second_head": second if last else None,
                    "third_head": third if last else None,
                }
            )
    return rows


def _write(tmp_path, rows, name="test.parquet"):
    path = tmp_path / name
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.fixture
def adapter():
    return get_adapter("video_mme_v2")


@pytest.fixture
def records(adapter, tmp_path):
    return adapter.load(_write(tmp_path, _rows()), tmp_path / "videos")


def test_load_parquet(records, tmp_path):
    assert len(records) == 12
    assert [r.id for r in records] == [str(i) for i in range(12)]  # the official index (row position)
    first = records[0]
    assert first.answer == "A" and len(first.options) == 8 and first.options[7] == "H. choice 7."
    assert first.media == [str(tmp_path / "videos" / "001.mp4")]
    # every question carries its group's attributes (read from the group's last row)
    assert first.categories == {
        "group_type": "relevance",
        "level": "1",
        "second_head": "Perception",
        "third_head": "Counting",
    }
    assert first.extra["index"] == 0 and first.extra["group"] == 0 and first.extra["group_structure"] is None
    sixth = records[5]
    assert (
        sixth.answer == "E"
        and sixth.extra["group"] == 1
        and sixth.extra["group_structure"] == "[1, [2, 3], 4]"
    )
    assert sixth.categories["level"] == "2" and sixth.categories["third_head"] == "Causal"


def test_question_id_is_the_record_id_when_present(adapter, tmp_path):
    rows = _rows()
    for i, row in enumerate(rows):
        row["question_id"] = f"{row['video_id']}-{i % 4 + 1}"
    recs = adapter.load(_write(tmp_path, rows), None)
    assert recs[4].id == "002-1" and recs[4].extra["index"] == 4


@pytest.mark.parametrize(
    "response,letter",
    [
        ("Final Answer: G.", "G"),
        ("Final answer: B", "F"),  # case-sensitive prefix: the F of "Final"
        ("Answer: E", "E"),
        ("**Answer:** C", "C"),
        ("The answer is (H)", "H"),
        ("Based on the frames, D", "B"),  # the B of "Based"
        ("I think it is h", ""),
        ("there is no way to know which of these options is right from this clip", ""),
        ("", ""),
    ],
)
def test_official_extraction(response, letter):
    assert extract_characters_regex_v2(response) == letter
    assert v2_question_score(letter, "C") == (-1 if not letter else int(letter == "C"))


# Per question official scores: group 0 [1, -1, 1, 0], group 1 [1, 0, 1, 0], group 2 [-1, 1, 1, 0]
RESPONSES = [
    "A", "no idea", "C", "A",  # answers A B C H
    "D", "A", "F", "A",  # answers D E F G
    "unclear", "G", "A", "C",  # answers H G A B
]  # fmt: skip
RELEVANCE_0 = 100.0 / 16  # sum 1
LOGIC_1 = 100.0 * 4 / 12  # run 1, question 3 right -> 2
LOGIC_2 = 50.0  # run 3: the leading -1 is truthy


def test_group_scores_by_hand(adapter, records):
    scores = [adapter.score_sample(r, resp, "official") for r, resp in zip(records, RESPONSES)]
    assert [s["v2_score"] for s in scores] == [1, -1, 1, 0, 1, 0, 1, 0, -1, 1, 1, 0]
    assert scores[1]["extraction_failed"] and scores[1]["score"] == 0.0 and scores[1]["index"] == 1
    agg = adapter.aggregate(records, scores, "official")
    assert agg["groups"] == 3 and agg["groups_incomplete"] == 0 and agg["n"] == 12 and agg["unanswered"] == 2
    assert agg["relevance_score"] == pytest.approx(RELEVANCE_0)
    assert agg["relevance_linear_score"] == pytest.approx(25.0)
    assert agg["logic_score"] == pytest.approx((LOGIC_1 + LOGIC_2) / 2)
    assert agg["total"] == pytest.approx((RELEVANCE_0 + LOGIC_1 + LOGIC_2) / 3)
    assert agg["overall"] == agg["total"]
    assert agg["level_1"] == pytest.approx(RELEVANCE_0)
    assert agg["level_2"] == pytest.approx((LOGIC_1 + LOGIC_2) / 2)
    assert agg["level_3"] is None
    assert agg["by_second_head"] == {
        "Perception": pytest.approx(RELEVANCE_0),
        "Reasoning": pytest.approx((LOGIC_1 + LOGIC_2) / 2),
    }
    assert agg["by_third_head"]["Temporal"] == pytest.approx(LOGIC_2)
    assert agg["simple_accuracy"] == pytest.approx(60.0)  # 6 right of 10 readable

    # groups come from the index, not from the order the answers arrive in
    order = list(range(12))
    random.Random(0).shuffle(order)
    shuffled = adapter.aggregate([records[i] for i in order], [scores[i] for i in order], "official")
    assert shuffled == agg

    # a group with an unscored question is left out and counted
    partial = adapter.aggregate(records[:-1], scores[:-1], "official")
    assert partial["groups"] == 2 and partial["groups_incomplete"] == 1
    assert partial["total"] == pytest.approx((RELEVANCE_0 + LOGIC_1) / 2)


def test_robust_mode_has_no_minus_one(adapter, records):
    responses = [f"<answer>{r.answer}</answer>" for r in records]
    responses[0] = "nothing"  # unreadable: wrong (0), not -1
    scores = [adapter.score_sample(r, x, "robust") for r, x in zip(records, responses)]
    assert [s["v2_score"] for s in scores] == [0] + [1] * 11
    agg = adapter.aggregate(records, scores, "robust")
    assert agg["relevance_score"] == pytest.approx(100.0 * 9 / 16)  # 3 of 4
    assert agg["logic_score"] == pytest.approx(100.0)
    assert agg["total"] == pytest.approx((100.0 * 9 / 16 + 200.0) / 3)
    assert agg["unanswered"] == 0


def test_official_tables():
    assert relevance_scores([-1, -1, 0, 0]) == (0.0, -50.0)  # negative sum: 0, linear goes negative
    assert relevance_scores([1, 1, 1, -1]) == (25.0, 50.0)
    assert logic_score([1, 1, 1, 1], "[1, 2, 3, 4]") == 100.0
    assert logic_score([-1, -1, 0, 1], "[1, 2, 3, 4]") == 25.0
    assert logic_score([0, 1, 1, 1], "[[1, 2], 3, 4]") == 10.0  # run 0, question 2 right -> 1
    assert logic_score([1, 1, 0, 1], "[1,[2,3],4]") == pytest.approx(100.0 * 4 / 12)
    assert logic_score([1, 0, 0, 1], "[1, [2, 3], 4]") == pytest.approx(100.0 / 12)
    with pytest.raises(ValueError, match="unknown group_structure"):
        logic_score([1, 1, 1, 1], "[1, 2, [3, 4]]")


def test_bad_input(adapter, tmp_path):
    rows = _rows()
    with pytest.raises(ValueError, match=r"bad\.parquet: 10 rows, not whole groups of 4"):
        adapter.load(_write(tmp_path, rows[:10], "bad.parquet"), None)
    broken = [dict(r) for r in rows]
    del broken[6]["answer"]
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(
        ValueError, match=r"rows\.json: record 6 \(video_id='002'\): missing fields \['answer'\]"
    ):
        adapter.load(path, None)
    broken = [dict(r) for r in rows]
    broken[7]["group_structure"] = "[1, 2, [3, 4]]"
    path.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match=r"record 7 \(video_id='002'\): unknown group_structure"):
        adapter.load(path, None)
    broken = [dict(r) for r in rows]
    broken[3]["level"] = 4
    path.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match=r"record 3 .*level 4"):
        adapter.load(path, None)
    path.write_text(json.dumps([{"problem": "q", "problem_id": 1, "solution": "<answer>A</answer>"}]))
    with pytest.raises(ValueError, match=r"rows\.json: an EasyVideoR1 unified file"):
        adapter.load(path, None)
    (tmp_path / "junk.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(ValueError, match=r"junk\.parquet: unreadable Parquet"):
        adapter.load(tmp_path / "junk.parquet", None)


@pytest.mark.parametrize(
    ("structure", "expected"),
    [
        ("[1, 2, 3, 4]", [0.0, 100 / 16, 100 * 4 / 16, 100 * 9 / 16, 100.0]),
        ("[1, [2, 3], 4]", [0.0, 100 / 12, 100 * 4 / 12, 100 * 7 / 12, 100.0]),
        ("[[1, 2], 3, 4]", [0.0, 100 / 10, 100 * 2 / 10, 100 * 5 / 10, 100.0]),
    ],
)
def test_logic_score_per_leading_run_matches_the_official_tables(structure, expected):
    """Every run length 0-4 of every group structure (official cal_logic); the question after the run is
    wrong and the ones after it right, so no structure's special case applies."""
    runs = [[0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 0, 1], [1, 1, 1, 0], [1, 1, 1, 1]]
    assert [logic_score(scores, structure) for scores in runs] == pytest.approx(expected)
