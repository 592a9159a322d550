"""Canonical benchmark records: validation and JSONL round trip."""

import json

import pytest

from evaluation.records import BenchmarkRecord, check_unique_ids, read_records, records_digest, write_records


def _rec(rid="a", **kw):
    base = {
        "id": rid,
        "benchmark": "b",
        "problem": "q?",
        "problem_type": "multiple choice",
        "answer": "A",
        "options": ["A. x", "B. y"],
        "media": ["/v/a.mp4"],
        "categories": {"duration": "short"},
        "extra": {"k": [1, 2]},
    }
    base.update(kw)
    return BenchmarkRecord(**base)


def test_jsonl_round_trip(tmp_path):
    recs = [
        _rec("a"),
        _rec("b", media=[], media_kind="none"),
        _rec("c", media=["/i/c.png"], media_kind="image"),
    ]
    path = write_records(tmp_path / "r.jsonl", recs)
    assert read_records(path) == recs
    assert len(path.read_text().splitlines()) == 3


def test_validation_errors():
    with pytest.raises(ValueError, match="non-empty string"):
        _rec("")
    with pytest.raises(ValueError, match="media_kind must be one of"):
        _rec(media_kind="audio")
    with pytest.raises(ValueError, match="needs at least one media path"):
        _rec(media=[])
    with pytest.raises(ValueError, match="category values must be strings"):
        _rec(categories={"duration": 3})
    with pytest.raises(ValueError, match=r"duplicate record ids \['a'\]"):
        check_unique_ids([_rec("a"), _rec("b"), _rec("a")])


def test_bad_line_names_file_and_line(tmp_path):
    path = tmp_path / "r.jsonl"
    good = json.dumps(_rec("a").to_dict())
    path.write_text(good + "\n" + json.dumps({"id": "x", "bogus": 1}) + "\n")
    with pytest.raises(ValueError, match=r"r\.jsonl:2: .*unknown BenchmarkRecord fields \['bogus'\]"):
        read_records(path)


def test_digest_ignores_order_and_sees_content():
    a, b = _rec("a"), _rec("b")
    assert records_digest([a, b]) == records_digest([b, a])
    assert records_digest([a, b]) != records_digest([a, _rec("b", answer="B")])


def test_non_utf8_and_malformed_lines_name_file_and_line(tmp_path):
    path = tmp_path / "r.jsonl"
    good = json.dumps(_rec("a").to_dict()).encode()
    path.write_bytes(good + b"\n" + good.replace(b'"a"', b'"\xe9"', 1) + b"\n")
    with pytest.raises(
        ValueError, match=r"r\.jsonl:2: not UTF-8 text \(byte 0xe9 at column 9\); save the file as UTF-8"
    ):
        read_records(path)
    path.write_text(json.dumps(_rec("a").to_dict()) + "\n{bad\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"r\.jsonl:2: not a JSON line"):
        read_records(path)
