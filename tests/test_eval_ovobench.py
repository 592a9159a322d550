"""OVO-Bench adapter: the real official ``ovo_bench_new.json`` and EasyVideoR1 samples, the official
prompts, ``utils/OVOBenchScore.py`` scoring quirks, its per-item scores on the real GPT results
fixture, and the task / category / total aggregates."""

import json
from pathlib import Path

import pytest

from evaluation.adapters import get_adapter
from evaluation.official import ovobench
from training.prompts import render_prompt

SAMPLES = Path(__file__).resolve().parents[1] / "evaluation" / "samples" / "ovobench"
OFFICIAL = SAMPLES / "official_ovo_bench_new.sample.json"
UNIFIED = SAMPLES / "easyvideor1_ovobench.sample.json"
FIXTURE = SAMPLES / "scorer_fixture_GPT_EPM.sample.json"


@pytest.fixture
def adapter():
    return get_adapter("ovobench")


@pytest.fixture
def official(adapter, tmp_path):
    return {r.id: r for r in adapter.load(OFFICIAL, tmp_path)}


def test_official_sample(official, tmp_path):
    # 18 multiple choice + CRR 2x5 + SSR 12+17 + REC 3+4 test_info entries
    assert len(official) == 64
    first = official["0"]  # EPM, gt 2, realtime 215
    assert (first.answer, first.problem_type) == ("C", "multiple choice")
    assert first.options == [
        "A. a person with brown shirt",
        "B. a person with green shirt",
        "C. a person with blue shirt",
        "D. a person with white shirt",
    ]
    assert first.categories == {"task": "EPM", "category": "backward"}
    assert first.extra["realtime"] == 215
    assert first.media == [str(tmp_path / "Ego4D/clips/ec4a3ba3-eb00-4aa8-9b41-36043ece98f7.mp4")]
    assert official["1109"].answer == "B"  # gt decides, not the (differently worded) answer text
    crr = official["1468_2"]  # test_info[2] = {realtime 310, type 1}
    assert (crr.problem_type, crr.answer, crr.extra["realtime"], crr.extra["type"]) == (
        "boolean",
        "Yes",
        310,
        1,
    )
    assert crr.categories == {"task": "CRR", "category": "forward"}
    ssr = official["1517_3"]  # {realtime 62, step "pour the egg into the pot", type 0}
    assert (ssr.problem, ssr.answer) == ("pour the egg into the pot", "No")
    rec = official["1559_2"]  # {realtime 18, count 3}
    assert (rec.problem_type, rec.answer, rec.problem) == (
        "numerical",
        "3",
        "How many times did they showing something to the camera?",
    )
    assert official["1558_2"].extra["realtime"] == 32.0


def test_unified_sample(adapter, tmp_path):
    recs = {r.id: r for r in adapter.load(UNIFIED, tmp_path)}
    assert len(recs) == 20
    hld = recs["ovo_379"]
    assert (hld.answer, hld.options, hld.categories) == (
        "A",
        ["A. Unable to answer", "B. no"],
        {"task": "HLD", "category": "backward"},
    )
    assert (recs["ovo_1593_5"].problem_type, recs["ovo_1593_5"].answer) == ("numerical", "3")
    crr = recs["ovo_1492_2"]
    assert (crr.problem_type, crr.answer, crr.extra["type"], crr.extra["ovo_test_idx"]) == (
        "boolean",
        "Yes",
        1,
        2,
    )
    assert crr.media == [str(tmp_path / "1492_2.mp4")]


def test_official_prompts(adapter, official):
    def render(rid):
        return render_prompt(adapter.prompt_fields(official[rid]), adapter.prompt_template)

    assert render("1") == (
        "Question: What did I drop in the bowl in the sink?\nOptions:\nA. meat; B. onion; C. eggplant; D. carrot;\n"
        "Respond only with the letter corresponding to your chosen option (e.g., A, B, C).\n"
        "Do not include any additional text or explanation in your response."
    )
    assert "Now, answer the following question: How many times did they breaking something?\n" in render(
        "1558_0"
    )
    assert render("1558_0").startswith(
        "You're watching a video in which people may perform a certain type of action repetively."
    )
    ssr = render("1516_0")
    assert (
        "one step from the whole procedures:\npull up the hair to reserve place for the hair extensions\nYour task"
        in ssr
    )
    assert ssr.endswith(
        "Answer only with “Yes” or “No”.\nDo not include any additional text or explanation in your response."
    )
    assert render("1468_0").startswith(
        "You're responsible of answering questions based on the video content."
    )


@pytest.mark.parametrize(
    "response,score,pred",
    [
        ("C", 1.0, "C"),
        ("Answer: C", 1.0, "C"),
        ("Answer: B", 0.0, "A"),  # "A" of "Answer" is read first (reporting only)
        ("c", 0.0, ""),  # case-sensitive substring
        ("A, B, C or D", 1.0, "C"),  # every letter named: correct
        ("The correct option is D.", 0.0, "D"),
    ],
)
def test_official_choice_substring(adapter, official, response, score, pred):
    result = adapter.score_sample(official["0"], response, "official")  # key C
    assert result == {"score": score, "pred": pred, "extraction_failed": not pred}


def test_official_choice_substring_in_words(adapter, official):
    # key C, response names D: but "Correct" holds a capital C, so the official test credits it
    assert adapter.score_sample(official["0"], "Correct answer: D", "official")["score"] == 1.0
    assert adapter.score_sample(official["0"], "correct answer: D", "official")["score"] == 0.0


@pytest.mark.parametrize(
    "response,score,failed",
    [
        ("3", 1.0, False),
        ("3 times", 1.0, False),
        ("1, 2, 3", 0.0, False),
        ("three", 0.0, True),
        ("03", 0.0, False),
    ],
)
def test_official_rec_digits(adapter, official, response, score, failed):
    result = adapter.score_sample(official["1559_2"], response, "official")  # count 3
    assert result == {"score": score, "extraction_failed": failed}


@pytest.mark.parametrize(
    "rid,response,score",
    [
        ("1468_2", "Y", 1.0),  # key 1
        ("1468_2", "Yes", 1.0),
        ("1468_2", "yes", 0.0),  # case-sensitive
        ("1468_2", "Yes, but no", 1.0),
        ("1468_2", "No", 0.0),
        ("1468_0", "N", 1.0),  # key 0
        ("1468_0", "Not yet", 1.0),  # "No" is a substring
        ("1468_0", "Y", 0.0),
        ("1468_0", "n", 0.0),
    ],
)
def test_official_yes_no(adapter, official, rid, response, score):
    assert adapter.score_sample(official[rid], response, "official")["score"] == score


def test_robust_forward_uses_number_and_yes_no_scorers(adapter, official):
    assert adapter.score_sample(official["1559_2"], "<answer>3</answer>", "robust")["score"] == 1.0
    assert adapter.score_sample(official["1559_2"], "<answer>three</answer>", "robust")["score"] == 1.0
    assert adapter.score_sample(official["1468_2"], "<answer>yes</answer>", "robust")["score"] == 1.0
    assert adapter.score_sample(official["0"], "Answer: B", "robust")["score"] == 0.0


def test_gpt_fixture_reproduces_official_scores(adapter, official):
    """results/GPT/GPT_EPM_offline.json (first 10 backward items): official score = int(gt in response)."""
    results = json.loads(FIXTURE.read_text())["backward"]
    assert (
        official["0"].answer == results[0]["ground_truth"]
        and official["1"].answer == results[1]["ground_truth"]
    )
    recs = [
        adapter.make_record(
            r["id"],
            problem=r["question"],
            answer=r["ground_truth"],
            options=[f"{letter}. option" for letter in "ABCD"],
            media=[r["video"]],
            categories={"task": r["task"], "category": "backward"},
        )
        for r in results
    ]
    scores = [adapter.score_sample(rec, r["response"], "official") for rec, r in zip(recs, results)]
    assert [s["score"] for s in scores] == [0, 1, 0, 0, 0, 1, 0, 0, 0, 1]
    out = adapter.aggregate(recs, scores, "official")  # "Task: EPM, Acc: 30.00", "Backward Avg.: 30.00"
    assert out["by_task"] == {"EPM": pytest.approx(30.0)} and out["by_category"] == {
        "backward": pytest.approx(30.0)
    }
    assert out["overall"] == pytest.approx(30.0)


def test_aggregate_total_is_the_mean_of_task_accuracies(adapter):
    rows = [("EPM", 1), ("EPM", 0), ("ASI", 1), ("STU", 0), ("REC", 1), ("REC", 0), ("REC", 0), ("REC", 0)]
    recs = [
        adapter.make_record(
            f"r{i}", problem="q", answer="A", options=["A. x"], media=["/v.mp4"],
            categories={"task": t, "category": ovobench.TASK_CATEGORY[t]},
        )
        for i, (t, _) in enumerate(rows)
    ]  # fmt: skip
    out = adapter.aggregate(recs, [{"score": float(s)} for _, s in rows], "official")
    assert out["by_task"] == pytest.approx({"ASI": 100.0, "EPM": 50.0, "REC": 25.0, "STU": 0.0})
    assert out["by_category"] == pytest.approx({"backward": 75.0, "realtime": 0.0, "forward": 25.0})
    assert out["overall"] == pytest.approx((50 + 100 + 0 + 25) / 4)  # official Total Avg.
    assert out["category_mean"] == pytest.approx((75 + 0 + 25) / 3)  # EasyVideoR1's ovo_total
    assert out["accuracy"] == pytest.approx(37.5) and out["n"] == 8


def _official_rows():
    return json.loads(OFFICIAL.read_text())


@pytest.mark.parametrize(
    "index,mutate,match",
    [
        (0, lambda r: r.pop("gt"), r"ovo\.json: record 0 \(id=0\): missing fields \['gt'\]"),
        (0, lambda r: r.update(gt=4), r"record 0 \(id=0\): gt must be an option index 0\.\.3"),
        (0, lambda r: r.update(task="XYZ"), r"record 0 \(id=0\): unknown OVO-Bench task 'XYZ'"),
        (18, lambda r: r.pop("test_info"), r"record 18 \(id=1468\): missing fields \['test_info'\]"),
        (
            20,
            lambda r: r["test_info"][1].update(type=2),
            r"record 20 \(id=1516\) test_info\[1\]: type must be 0",
        ),
        (
            22,
            lambda r: r["test_info"][0].pop("count"),
            r"record 22 \(id=1558\) test_info\[0\]: missing fields \['count'\]",
        ),
    ],
)
def test_official_format_errors_name_file_and_record(adapter, tmp_path, index, mutate, match):
    rows = _official_rows()
    mutate(rows[index])
    (tmp_path / "ovo.json").write_text(json.dumps(rows))
    with pytest.raises(ValueError, match=match):
        adapter.load(tmp_path / "ovo.json", tmp_path)


def test_unified_format_errors(adapter, tmp_path):
    rows = json.loads(UNIFIED.read_text())
    rows[3]["ovo_category"] = "realtime"
    (tmp_path / "u.json").write_text(json.dumps(rows))
    with pytest.raises(
        ValueError, match=r"u\.json: record 3 \(problem_id='ovo_379'\): ovo_category 'realtime'"
    ):
        adapter.load(tmp_path / "u.json", tmp_path)
    rows = json.loads(UNIFIED.read_text())
    del rows[16]["ovo_type"]
    (tmp_path / "u.json").write_text(json.dumps(rows))
    with pytest.raises(
        ValueError, match=r"record 16 \(problem_id='ovo_1492_2'\): missing fields \['ovo_type'\]"
    ):
        adapter.load(tmp_path / "u.json", tmp_path)


def test_malformed_file_names_the_file(adapter, tmp_path):
    (tmp_path / "bad.json").write_text("[{]")
    with pytest.raises(ValueError, match=r"bad\.json"):
        adapter.load(tmp_path / "bad.json", tmp_path)


def test_choice_score_is_whether_the_key_letter_appears():
    assert [ovobench.choice_score(r, "B") for r in ("Answer: B", "(B)", "b", "A", "")] == [1, 1, 0, 0, 0]
