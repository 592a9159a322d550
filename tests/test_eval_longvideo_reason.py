"""LongVideo-Reason adapter: the EasyVideoR1 sample (options put back in letter order), EasyVideoR1
scoring and the micro accuracy."""

import json
from pathlib import Path

import pytest

from evaluation.adapters import get_adapter

SAMPLE = (
    Path(__file__).resolve().parents[1]
    / "evaluation"
    / "samples"
    / "longvideo_reason"
    / "easyvideor1_longvideoreason.sample.json"
)


@pytest.fixture
def adapter():
    return get_adapter("longvideo_reason")


def test_sample_records_and_option_order(adapter, tmp_path):
    raw = json.loads(SAMPLE.read_text())
    assert [o[0] for o in raw[0]["options"]] == ["A", "C", "B", "D"]  # out of order in the file
    recs = adapter.load(SAMPLE, tmp_path)
    assert len(recs) == 20
    first = recs[0]
    assert first.id == "61" and first.answer == "C"
    assert [o[0] for o in first.options] == ["A", "B", "C", "D"]
    # the letters keep their texts: the key still names the same option
    assert (
        first.options[2]
        == "C. To publicize the arrest or identification of suspects linked to Amanda Berry's case."
    )
    assert first.media == [str(tmp_path / "NXPaB9Mhacs.mp4")]
    assert "".join(r.answer for r in recs) == "CADCCBDDBAADBDBBACAC"
    for r, row in zip(recs, raw):
        assert sorted(r.options) == sorted(
            o.replace(":", ".", 1) if o[1] == ":" else o for o in row["options"]
        )


@pytest.mark.parametrize(
    "response,score,failed",
    [
        ("Therefore, the final answer is: C", 1.0, False),
        ("<think>...</think>\nC. To publicize", 1.0, False),
        ("I choose option B", 0.0, False),
        ("The best answer is (C)", 1.0, False),  # a line under 30 characters ending in a letter
        ("Based on the video, the best answer is (C).", 0.0, True),  # a longer line: nothing read
    ],
)
def test_official_scoring(adapter, tmp_path, response, score, failed):
    rec = adapter.load(SAMPLE, tmp_path)[0]
    result = adapter.score_sample(rec, response, "official")
    assert (result["score"], result["extraction_failed"]) == (score, failed)


def test_aggregate(adapter, tmp_path):
    recs = adapter.load(SAMPLE, tmp_path)[:3]  # C, A, D
    scores = [adapter.score_sample(r, f"<answer>{x}</answer>", "official") for r, x in zip(recs, "CAB")]
    agg = adapter.aggregate(recs, scores, "official")
    assert agg["overall"] == pytest.approx(200 / 3) and agg["n"] == 3
    assert set(agg) == {"n", "excluded", "accuracy", "overall"}
