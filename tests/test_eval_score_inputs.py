"""``reelrl eval score`` on wrong inputs (issue 19, item 3), through ``reelrl.cli.main`` on Video-MME's real
records (``evaluation/samples/video_mme``, 20 questions): records without a prediction, duplicated
prediction ids, and files that are not UTF-8 or not JSON. Nothing is scored silently wrong: the command
fails naming the file and line and the fix, or the result says what it left out."""

from __future__ import annotations

import json
from pathlib import Path

from reelrl.cli import main

SAMPLES = Path(__file__).resolve().parents[1] / "evaluation" / "samples"
VIDEO_MME = SAMPLES / "video_mme" / "easyvideor1_videomme.sample.json"
ROWS = json.loads(VIDEO_MME.read_text(encoding="utf-8"))
KEY = {r["question_id"]: r["solution"][len("<answer>") : -len("</answer>")] for r in ROWS}  # id -> letter
IDS = list(KEY)
SCORE = ["eval", "score", "--benchmark", "video_mme", "--mode", "official", "--json"]


def _wrong(letter: str) -> str:
    return "B" if letter == "A" else "A"


def _write_predictions(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _score(capsys, predictions: Path, *extra: str, annotations: Path = VIDEO_MME) -> tuple[int, dict | str]:
    code = main([*SCORE, "--annotations", str(annotations), "--predictions", str(predictions), *extra])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code != 2 else err)


# -- records without a prediction ----------------------------------------------------------------------
def test_missing_predictions_fail_without_partial(capsys, tmp_path):
    """The issue's case: 10 correct answers plus 50 unknown ids scored 100.0 over 20 records."""
    rows = [{"id": i, "response": KEY[i]} for i in IDS[:10]] + [
        {"id": f"x{k}", "response": "A"} for k in range(50)
    ]
    code, err = _score(capsys, _write_predictions(tmp_path / "p.jsonl", rows))
    assert code == 2
    assert f"{tmp_path / 'p.jsonl'}: 10 of 20 video_mme records have no prediction" in err
    assert "--partial" in err and "50 predictions have ids that are no record" in err


def test_partial_scores_the_predicted_records_and_says_so(capsys, tmp_path):
    rows = [{"id": i, "response": KEY[i]} for i in IDS[:10]]
    code, doc = _score(capsys, _write_predictions(tmp_path / "p.jsonl", rows), "--partial")
    assert code == 0
    assert doc["partial"] is True and doc["counts"]["missing"] == 10 and doc["counts"]["total"] == 20
    assert doc["aggregates"]["official"]["overall"] == 100.0 and doc["aggregates"]["official"]["n"] == 10


def test_a_full_prediction_file_is_not_partial(capsys, tmp_path):
    rows = [{"id": i, "response": KEY[i] if k < 10 else _wrong(KEY[i])} for k, i in enumerate(IDS)]
    code, doc = _score(capsys, _write_predictions(tmp_path / "p.jsonl", rows))
    assert code == 0
    assert doc["partial"] is False and doc["counts"]["missing"] == 0
    assert doc["aggregates"]["official"]["overall"] == 50.0 and doc["aggregates"]["official"]["n"] == 20


# -- duplicated prediction ids -------------------------------------------------------------------------
def _duplicated(tmp_path: Path) -> Path:
    """Every record once; the first record again on line 21, answered wrongly there."""
    rows = [{"id": i, "response": KEY[i]} for i in IDS]
    return _write_predictions(tmp_path / "p.jsonl", [*rows, {"id": IDS[0], "response": _wrong(KEY[IDS[0]])}])


def test_duplicated_ids_fail_naming_the_id_and_both_lines(capsys, tmp_path):
    path = _duplicated(tmp_path)
    code, err = _score(capsys, path)
    assert code == 2
    assert f"{path}:21: prediction id '331-2' again (first at {path}:1)" in err
    assert "--dedupe first|last" in err


def test_dedupe_first_and_last(capsys, tmp_path):
    path = _duplicated(tmp_path)
    code, first = _score(capsys, path, "--dedupe", "first")
    assert code == 0 and first["aggregates"]["official"]["overall"] == 100.0
    code, last = _score(capsys, path, "--dedupe", "last")
    assert code == 0 and last["aggregates"]["official"]["overall"] == 95.0


# -- decode errors name the file and the line ----------------------------------------------------------
def test_non_utf8_predictions_name_file_and_line(capsys, tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(b'{"id": "331-2", "response": "A"}\n{"id": "366-2", "response": "caf\xe9"}\n')
    code, err = _score(capsys, path)
    assert code == 2
    assert f"{path}:2: not UTF-8 text (byte 0xe9 at column 33)" in err and "save the file as UTF-8" in err


def test_malformed_json_predictions_name_file_and_line(capsys, tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "331-2", "response": "A"}\n{"id": "366-2", "response": }\n', encoding="utf-8")
    code, err = _score(capsys, path)
    assert code == 2 and f"{path}:2: not a JSON line" in err


def test_non_utf8_annotations_name_file_and_line(capsys, tmp_path):
    ann = tmp_path / "videomme.json"
    text = json.dumps(ROWS, indent=1, ensure_ascii=False)
    lines = text.encode("utf-8").split(b"\n")
    assert lines[4] == b'  "domain": "Knowledge",'
    lines[4] = lines[4].replace(b"Knowledge", b"Kn\xf6wledge")  # a Latin-1 byte on line 5, column 16
    ann.write_bytes(b"\n".join(lines))
    code, err = _score(capsys, _write_predictions(tmp_path / "p.jsonl", []), annotations=ann)
    assert code == 2
    assert f"{ann}:5: not UTF-8 text (byte 0xf6 at column 16)" in err and "save the file as UTF-8" in err


def test_malformed_json_annotations_name_file_and_line(capsys, tmp_path):
    ann = tmp_path / "videomme.json"
    lines = json.dumps(ROWS, indent=1, ensure_ascii=False).split("\n")
    lines[4] = lines[4].rstrip(",")  # a missing comma after line 5
    ann.write_text("\n".join(lines), encoding="utf-8")
    code, err = _score(capsys, _write_predictions(tmp_path / "p.jsonl", []), annotations=ann)
    assert code == 2 and f"{ann}:6: malformed JSON (Expecting ',' delimiter" in err
