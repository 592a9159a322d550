"""The runner's prediction log reads a line that is not UTF-8 like any other unreadable line: skipped with
a warning naming the file and line, the sample run again (issue 19, item 4: decode errors name file and line)."""

from __future__ import annotations

import json
import logging

from evaluation.predictions import PredictionLog


def test_a_non_utf8_line_is_skipped_naming_file_and_line(tmp_path, caplog):
    path = tmp_path / "predictions.jsonl"
    good = json.dumps({"id": "a", "key": "k", "response": "yes"}).encode()
    path.write_bytes(good + b"\n" + b'{"id": "b", "key": "k", "response": "caf\xe9"}\n')
    with caplog.at_level(logging.WARNING, logger="evaluation.predictions"):
        log = PredictionLog(tmp_path)
    assert list(log.rows) == ["a"] and log.bad_lines == 1
    assert log.done("a", "k") and not log.done("b", "k")
    assert f"{path}:2: unreadable prediction line skipped" in caplog.text and "not UTF-8" in caplog.text
