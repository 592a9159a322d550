"""``reelrl cache …`` in-process through ``reelrl.cli.main`` (JSON output parsed), plus one run of the
installed console script; real mp4/PNG files and a real Lance cache in tmp dirs."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cache_store import write_video
from cache_store.progress import Progress
from reelrl.cli import main

COLOURS = np.array([[(8 * i) % 256, 255 - (8 * i) % 256, (37 * i) % 256] for i in range(30)], dtype=np.uint8)
PIXELS = ["--min-pixels", str(4 * 28 * 28), "--max-pixels", str(16 * 28 * 28)]


def build_argv(tmp_path, data) -> list[str]:
    """``reelrl cache build`` of one dataset file into ``tmp_path/cache``, one worker, small frames."""
    return ["cache", "build", "--root", str(tmp_path / "cache"), "--input", str(data), "--workers", "1", *PIXELS]


def coloured_video(path, order=range(30), fps=10) -> str:
    frames = np.broadcast_to(COLOURS[list(order)][:, None, None, :], (len(order), 64, 96, 3)).copy()
    return str(write_video(path, frames, fps))


def run_json(capsys, *argv: str):
    """(exit status, parsed stdout) of one ``reelrl …`` call with ``--json``."""
    capsys.readouterr()
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
def dataset(tmp_path):
    """A JSONL train file: two videos (one listed twice), one image, one missing video; relative paths."""
    media = tmp_path / "data"
    coloured_video(media / "a.mp4")
    coloured_video(media / "b.mp4", order=range(29, -1, -1))
    Image.new("RGB", (100, 60), (10, 200, 30)).save(media / "flat.png")
    rows = [
        {"problem": "order?", "answer": "A", "problem_type": "multiple choice", "videos": ["a.mp4"]},
        {"problem": "again?", "answer": "B", "videos": ["a.mp4"]},  # no problem_type: fine for caching
        {"problem": "order?", "answer": "C", "videos": ["b.mp4"]},
        {"problem": "colour?", "answer": "green", "images": ["flat.png"]},
        {"problem": "lost?", "answer": "D", "videos": ["missing.mp4"]},
    ]
    path = media / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_cache_commands_end_to_end(tmp_path, dataset, capsys):
    root = str(tmp_path / "cache")
    media = dataset.parent
    code, report = run_json(
        capsys, "cache", "build", "--root", root, "--input", str(dataset), "--workers", "1", *PIXELS
    )
    assert code == 1  # finished, but one source failed
    assert (report["built"], report["hits"], report["failed"], report["samples"]) == (3, 0, 1, 5)
    assert report["failures"][0]["error"] == "FileNotFoundError"
    assert str(media / "missing.mp4") in report["failures"][0]["message"]
    a = str(media / "a.mp4")

    _, info = run_json(capsys, "cache", "show", "--root", root, a, "--dump-frames", str(tmp_path / "a.npy"))
    assert info["digest"] == report["digests"][a]
    assert info["indices"] == [0, 6, 12, 17, 23, 29]
    assert info["timestamps"] == pytest.approx([0.0, 0.6, 1.2, 1.7, 2.3, 2.9])
    assert (info["t"], info["h"], info["w"]) == (6, 56, 84)
    assert info["video_grid_thw"] == {"qwen2_vl": [3, 4, 6], "qwen2_5_vl": [3, 4, 6]}
    assert info["stale"] is False and info["history"][0]["action"] == "added"
    frames = np.load(info["dumped_frames"])
    assert frames.shape == (6, 56, 84, 3) and frames.dtype == np.uint8
    _, picture = run_json(capsys, "cache", "show", "--root", root, report["digests"][str(media / "flat.png")])
    assert picture["image_grid_thw"] == {"qwen2_vl": [1, 4, 8], "qwen2_5_vl": [1, 4, 8]}

    _, stats = run_json(capsys, "cache", "stats", "--root", root)
    assert (stats["rows"], stats["failures"], stats["events"]) == (3, 1, 1)
    assert stats["last_event"]["status"] == "complete"
    assert stats["last_event"]["build_id"] == report["build_id"]

    coloured_video(media / "b.mp4")  # rewritten: now stale
    st = os.stat(media / "b.mp4")
    os.utime(media / "b.mp4", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    _, stale = run_json(capsys, "cache", "stale", "--root", root)
    assert [(r["source"], r["reasons"]) for r in stale["stale"]] == [
        (str(media / "b.mp4"), ["source_changed"])
    ]
    _, by_family = run_json(capsys, "cache", "stale", "--root", root, "--family", "qwen3_vl")
    assert len(by_family["stale"]) == 3  # factor 28 rows do not serve a factor-32 spec

    _, preview = run_json(capsys, "cache", "invalidate", "--root", root, "--fps", "2", "--kind", "video")
    assert preview["dry_run"] and preview["removed"] == 0 and len(preview["digests"]) == 2
    _, done = run_json(capsys, "cache", "invalidate", "--root", root, "--source", a, "--yes")
    assert done["digests"] == [info["digest"]] and done["version"] == done["version_before"] + 1
    _, stats = run_json(capsys, "cache", "stats", "--root", root)
    assert stats["rows"] == 2 and stats["last_event"]["kind"] == "invalidate"

    # a later build re-adds the invalidated entry and replaces the stale one
    code, rebuilt = run_json(
        capsys, "cache", "build", "--root", root, "--input", str(dataset), "--workers", "1", *PIXELS
    )
    assert (code, rebuilt["built"], rebuilt["replaced"], rebuilt["hits"]) == (1, 1, 1, 1)
    _, compacted = run_json(capsys, "cache", "compact", "--root", root)
    assert compacted["protected_version"] == rebuilt["version"]
    assert [t["table"] for t in compacted["tables"]] == ["entries", "failures", "lineage"]
    _, info = run_json(capsys, "cache", "show", "--root", root, a)
    assert info["indices"] == [0, 6, 12, 17, 23, 29] and info["build_id"] == rebuilt["build_id"]

    # the installed console script, in a fresh process
    exe = Path(sys.executable).with_name("reelrl")
    out = subprocess.run(
        [str(exe), "cache", "stats", "--json", "--root", root], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout)["rows"] == 3


def test_human_output_progress_and_errors(tmp_path, dataset, capsys, monkeypatch):
    monkeypatch.setenv("REELRL_HOME", str(tmp_path / "home"))  # default root: $REELRL_HOME/cache
    assert main(["cache", "stats"]) == 2
    assert f"no media cache at {tmp_path / 'home' / 'cache'}" in capsys.readouterr().err

    video = dataset.parent / "b.mp4"
    rows = [{"problem": "q", "answer": "a", "videos": [str(video)]}]
    single = tmp_path / "one.json"
    single.write_text(json.dumps(rows))
    assert main(["cache", "build", "--input", str(single), "--workers", "1", *PIXELS]) == 0
    captured = capsys.readouterr()
    assert "[cache build] 1/1 (100.0%)" in captured.err and "ETA" in captured.err
    assert "built     1" in captured.out
    assert (tmp_path / "home" / "cache" / "entries.lance").is_dir()

    assert main(["cache", "show", str(video)]) == 0
    text = capsys.readouterr().out
    assert "video_grid_thw  qwen2_vl [3, 4, 6] (18 tokens)" in text and "stale           no" in text
    assert main(["cache", "show", str(tmp_path / "nope.mp4")]) == 2
    assert "no cache entry" in capsys.readouterr().err
    assert main(["cache", "invalidate"]) == 2
    assert "at least one selector" in capsys.readouterr().err
    assert main(["cache", "invalidate", "--digest", "zz"]) == 2
    assert main(["cache", "invalidate", "--source", str(video)]) == 0
    assert "dry run: pass --yes" in capsys.readouterr().out
    assert main(["cache", "stats"]) == 0
    assert "rows        1" in capsys.readouterr().out
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem": "q"}\n')
    assert main(["cache", "build", "--input", str(bad)]) == 2
    assert "bad.jsonl:1: missing answer" in capsys.readouterr().err


def test_progress_reports_rate_and_eta(capsys):
    ticks = iter([0.0, 1.0, 1.5, 4.0])
    progress = Progress(interval=1.0, clock=lambda: next(ticks))  # started at t=0
    progress(1, 4)  # t=1: 1 item/s, 3 left -> ETA 3s
    progress(2, 4)  # t=1.5: throttled
    progress(4, 4)  # t=4: the last item always prints
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "[cache build] 1/4 (25.0%)  1.00 items/s  elapsed 1s  ETA 3s",
        "[cache build] 4/4 (100.0%)  1.00 items/s  elapsed 4s  ETA 0s",
    ]


def test_content_hash_option(tmp_path, capsys):
    clip = coloured_video(tmp_path / "a.mp4")
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"problem": "?", "answer": "A", "videos": [clip]}) + "\n")
    root = str(tmp_path / "cache")
    build = ["cache", "build", "--root", root, "--input", str(data), "--workers", "1", *PIXELS]
    code, _ = run_json(capsys, *build, "--content-hash")
    assert code == 0
    _, info = run_json(capsys, "cache", "show", "--root", root, clip)
    assert info["fingerprint"]["sha256"] == hashlib.sha256(Path(clip).read_bytes()).hexdigest()
    st = os.stat(clip)
    os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched, same bytes
    _, hashed = run_json(capsys, "cache", "stale", "--root", root, "--content-hash")
    _, plain = run_json(capsys, "cache", "stale", "--root", root)
    assert (len(hashed["stale"]), len(plain["stale"])) == (0, 1)


def test_failure_records_hold_no_bytes_of_the_file(tmp_path):
    """A text file named like a video or an image fails with a short description; its content (here a
    secret) reaches neither the Lance failures table nor the CLI's output."""
    import lance

    secret = "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI-K7MDENG-bPxRfiCYzz"
    media = tmp_path / "data"
    media.mkdir()
    (media / "notes.mp4").write_text(secret + "\npassword: hunter2-zz\n")
    (media / "notes.png").write_text(secret + "\n")
    rows = [
        {"problem": "?", "answer": "A", "videos": ["notes.mp4"]},
        {"problem": "?", "answer": "B", "images": ["notes.png"]},
    ]
    (media / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    root = tmp_path / "cache"
    outputs = []
    for argv in (
        ["build", "--root", str(root), "--input", str(media / "train.jsonl"), "--workers", "1", *PIXELS],
        ["stats", "--root", str(root)],
        ["stats", "--root", str(root), "--json"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "reelrl.cli", "cache", *argv],
            cwd=Path(__file__).resolve().parents[1],
            capture_output=True,
            check=False,  # build exits 1: its sources failed
            text=True,
        )
        outputs.append(done.stdout + done.stderr)
    assert "notes.mp4" in outputs[0] and "notes.png" in outputs[0]  # the failures are reported...
    failures = lance.dataset(str(root / "failures.lance")).to_table().to_pylist()
    assert {Path(f["source"]).name for f in failures} == {"notes.mp4", "notes.png"}
    assert all("text file" in f["message"] for f in failures), failures  # ...with a plain-words reason
    for text in [*outputs, json.dumps(failures, default=str)]:
        for leaked in ("wJalrXUtnFEMI", "AWS_SECRET", "hunter2"):
            assert leaked not in text, text


def test_build_skips_rows_outside_the_media_root(tmp_path, capsys):
    """A row whose video lies outside the media root is recorded and skipped; the rest is built; the opt-out
    flag builds it too."""
    media = tmp_path / "data"
    inside = coloured_video(media / "a.mp4")
    outside = coloured_video(tmp_path / "elsewhere" / "b.mp4", order=range(29, -1, -1))
    rows = [
        {"problem": "?", "answer": "A", "videos": ["a.mp4"]},
        {"problem": "?", "answer": "B", "videos": [outside]},
    ]
    data = media / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    argv = build_argv(tmp_path, data)
    code, report = run_json(capsys, *argv)
    assert code == 1  # finished, but a row was refused
    assert report["built"] == 1 and set(report["digests"]) == {inside}
    (skipped,) = report["skipped_rows"]
    assert (
        skipped.startswith(f"{data}:2: ") and outside in skipped and "--allow-outside-media-root" in skipped
    )
    code, report = run_json(capsys, *argv, "--allow-outside-media-root")
    assert code == 0 and report["built"] == 1 and report["hits"] == 1 and not report["skipped_rows"]


def test_build_lists_every_invalid_row_or_skips_them(tmp_path, capsys):
    """Without --skip-invalid the build stops before decoding, listing every malformed row; with it, those
    rows are dropped, printed and listed under invalid_rows, the rest is built, and the exit status is 1."""
    media = tmp_path / "data"
    video = coloured_video(media / "a.mp4")
    data = media / "train.jsonl"
    data.write_text(
        json.dumps({"problem": "?", "answer": "A", "videos": ["a.mp4"]})
        + "\n{not json\n"
        + json.dumps({"problem": "?", "videos": ["a.mp4"]})
        + "\n"
    )
    argv = build_argv(tmp_path, data)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert (
        "2 invalid row(s)" in err and f"{data}:2: invalid JSON" in err and f"{data}:3: missing answer" in err
    )
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())  # nothing decoded
    code, report = run_json(capsys, *argv, "--skip-invalid")
    assert code == 1 and report["built"] == 1 and set(report["digests"]) == {video}
    assert [m.split(": ")[0] for m in report["invalid_rows"]] == [f"{data}:2", f"{data}:3"]
    assert "[sample 'train.jsonl:3']" in report["invalid_rows"][1]
