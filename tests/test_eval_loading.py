"""What adapters share for reading annotation rows (``evaluation.adapters.loading``): exact messages."""

import json

import pytest

from evaluation.adapters.loading import (
    as_row_list,
    content_id,
    media_path,
    numbered_id,
    one_line_jsonl,
    read_rows,
    require,
    split_inline_options,
)


def test_require_names_every_missing_field_and_the_format():
    require({"a": 1, "b": None}, ("a", "b"), "f.json: record 0")  # None is a value unless told otherwise
    with pytest.raises(ValueError) as err:
        require({"a": 1}, ("a", "b", "c"), "f.json: record 0")
    assert str(err.value) == "f.json: record 0: missing fields ['b', 'c']"
    with pytest.raises(ValueError) as err:
        require({"a": 1}, ("a", "b"), "f.json: record 3", "the official MVBench format")
    assert str(err.value) == "f.json: record 3: missing fields ['b'] of the official MVBench format"
    with pytest.raises(ValueError) as err:
        require({"a": None, "c": 0}, ("a", "b", "c"), "w", "the OVO-Bench format", none_is_missing=True)
    assert str(err.value) == "w: missing fields ['a', 'b'] of the OVO-Bench format"


def test_read_rows_json_jsonl_and_one_line_jsonl(tmp_path):
    listed = tmp_path / "a.json"
    listed.write_text(json.dumps([{"x": 1}, {"x": 2}]))
    lines = tmp_path / "b.jsonl"
    lines.write_text('{"x": 1}\n\n{"x": 2}\n')
    single = tmp_path / "c.jsonl"
    single.write_text('{"x": 1}\n')
    assert read_rows(listed) == read_rows(lines) == [{"x": 1}, {"x": 2}]
    assert read_rows(single) == {"x": 1} and one_line_jsonl(read_rows(single)) == [{"x": 1}]
    with pytest.raises(FileNotFoundError, match="annotation file not found"):
        read_rows(tmp_path / "none.json")


def test_as_row_list_names_the_bad_record():
    assert as_row_list([{"a": 1}], "f.json", "MVBench") == [{"a": 1}]
    with pytest.raises(ValueError) as err:
        as_row_list({"a": 1}, "f.json", "MVBench")
    assert str(err.value) == "f.json: expected a list of MVBench records, got a JSON dict"
    with pytest.raises(ValueError) as err:
        as_row_list([{"a": 1}, 3], "f.json", "MVBench")
    assert str(err.value) == "f.json: record 1: expected an object, got int"


def test_inline_options_media_path_and_ids():
    stem, options = split_inline_options("Which?\n(A) red\nB. blue\n  sky", "q1")
    assert stem == "Which?" and options == ["A. red", "B. blue sky"]
    with pytest.raises(ValueError, match=r"q2: expected the options inline .* found AC in"):
        split_inline_options("Which?\n(A) red\n(C) blue", "q2")
    assert media_path("/data", "./videos/x.mp4") == "/data/videos/x.mp4"
    assert media_path("/data", "/abs/x.mp4") == "/abs/x.mp4"
    assert content_id("a", 1) == content_id("a", "1") != content_id("a", 2) and len(content_id("a")) == 12
    seen: dict[str, int] = {}
    assert [numbered_id(b, seen) for b in ("x", "y", "x", "x")] == ["x", "y", "x~2", "x~3"]
