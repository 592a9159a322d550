"""Every adapter refuses another benchmark's real annotation file, naming the file, what it expected and
what it found, and still reads its own (item 3 of issue 19: MVBench's records scored as Video-MME gave 100.0).

The files are the real records shipped in ``evaluation/samples/<benchmark>/`` (the folder is the benchmark).
Scorer fixtures (``scorer_fixture_*``: model outputs, not annotations) are left out. No two benchmarks here
share a format that cannot be told apart: every pair (adapter X, file of benchmark Y != X) is refused.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evaluation.adapters import get_adapter, list_benchmarks

SAMPLES = Path(__file__).resolve().parents[1] / "evaluation" / "samples"
FILES = sorted(
    p
    for p in SAMPLES.glob("*/*")
    if p.suffix in (".json", ".txt") and p.name != "SOURCE.txt" and not p.name.startswith("scorer_fixture_")
)
PAIRS = [(name, f) for name in list_benchmarks() for f in FILES if f.parent.name != name]


def test_the_sample_files_cover_twenty_benchmarks():
    assert len({f.parent.name for f in FILES}) == 20
    assert {f.parent.name for f in FILES} <= set(list_benchmarks())


@pytest.mark.parametrize(("name", "path"), PAIRS, ids=[f"{n}<-{p.parent.name}/{p.name}" for n, p in PAIRS])
def test_adapter_refuses_another_benchmarks_file(name, path, tmp_path):
    with pytest.raises(ValueError, match=re.escape(str(path))):
        get_adapter(name).load(path, tmp_path)


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_adapter_reads_its_own_file(path, tmp_path):
    records = get_adapter(path.parent.name).load(path, tmp_path)
    assert records and all(r.benchmark == path.parent.name for r in records)


def test_video_mme_refuses_mvbench_naming_expected_and_found_fields(tmp_path):
    path = SAMPLES / "mvbench" / "easyvideor1_mvbench.sample.json"
    with pytest.raises(ValueError) as e:
        get_adapter("video_mme").load(path, tmp_path)
    message = str(e.value)
    assert message.startswith(f"{path} is not a video_mme annotation file: ")
    assert "videoID" in message and "question_id" in message  # what it expected
    assert "found" in message and "'video'" in message  # what it found (MVBench's own key)


def test_reelrl_jsonl_refuses_a_benchmark_file_and_names_the_benchmark(tmp_path):
    path = SAMPLES / "video_mme" / "easyvideor1_videomme.sample.json"
    with pytest.raises(ValueError, match=r"video_mme annotation file.*--benchmark video_mme"):
        get_adapter("reelrl_jsonl").load(path, tmp_path)
