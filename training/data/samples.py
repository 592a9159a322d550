"""Load EasyR1 / EasyVideoR1 / Video-R1 sample files (JSON list, JSONL, Parquet) into one ``Sample``.

Field mapping (first present key wins):

- prompt: ``problem``, then ``prompt``, then ``question``; a non-empty string.
- answer: ``answer``, then ``solution``; an ``<answer>…</answer>`` wrapper is stripped (Video-R1
  keeps the key as ``<answer>B</answer>``); non-string values (3, {"time": [1, 2]}) become JSON text.
- media: ``videos`` / ``images`` lists (EasyR1); if both are empty, Video-R1's ``path`` goes to
  videos or images by ``data_type`` or file extension; ``image_path`` (Video-R1 eval) adds an image.
  Relative paths resolve against ``media_root`` or else the data file's folder; URIs stay as they are.
  A local path must stay inside that media root once ``..`` and symlinks are resolved (an absolute path
  too): a row that points elsewhere is refused, unless ``allow_outside_media_root`` (or the environment
  variable ``REELRL_ALLOW_OUTSIDE_MEDIA_ROOT=1``) opts out for datasets that list absolute paths on purpose.
  A sample with both images and videos is rejected, as EasyVideoR1 rejects it.
- ``data_type``: ``video`` | ``image`` | ``text``, inferred from the media when missing.
- ``problem_id``: kept as text; when missing, ``<file name>:<line>`` (JSONL) or ``<file name>#<index>``.
- everything else (``solution``, ``process``, ``data_source``, …) is kept in ``extra``.

Every row is checked once, before anything expensive runs: its shape (the fields above), its answer against
its problem type (``check_answer``; by default the reward library's ``validate_ground_truth``, the one owner of
"can this ground truth be scored": a multiple-choice letter among the options, options with unique labels and
text, a parseable number, time span or box) and its media (each local file exists). Every problem of a file is
collected and raised together as one ``InvalidRows`` (a ``DatasetError``) whose ``problems`` are ``RowProblem``s
naming ``file:line`` (JSONL, 1-based) or ``file record <index>`` (JSON/Parquet, 0-based), the sample id and what
to change: a bad row must be fixed, not silently dropped. ``skip_invalid=True`` drops them instead and appends
them to ``invalid``. A caller that must go on despite rows whose media lie outside the root (a cache build)
passes ``skipped``: those rows are left out and their messages recorded there.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

PROMPT_KEYS = ("problem", "prompt", "question")
DATA_TYPES = ("video", "image", "text")
VIDEO_EXTS = frozenset(
    {".mp4", ".avi", ".mkv", ".mov", ".webm", ".flv", ".m4v", ".mpeg", ".mpg", ".wmv", ".3gp"}
)
IMAGE_EXTS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"})
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
# Keys the loader maps onto Sample fields; never copied into ``extra``.
_MEDIA_KEYS = ("videos", "images", "path", "image_path")


class DatasetError(ValueError):
    """A malformed sample file or row; the message names the file, the line or record, and the fix."""


class OutsideMediaRoot(DatasetError):
    """A row's media path leads out of the media root (``..``, an absolute path, a symlink)."""


@dataclass(frozen=True)
class RowProblem:
    """One invalid row: where it is (``file:line`` or ``file record <i>``), its sample id, and what is wrong
    with the fix. ``str()`` is ``"<where>: <message> [sample <id>]"``."""

    where: str
    sample_id: str
    message: str
    outside_media_root: bool = False

    def __str__(self) -> str:
        return f"{self.where}: {self.message} [sample {self.sample_id!r}]"


class InvalidRows(DatasetError):
    """Every invalid row of one file (``problems``), reported together; the message lists each one."""

    def __init__(self, path: str | Path, problems: list[RowProblem]):
        self.path = str(path)
        self.problems = list(problems)
        rows = len({p.where for p in self.problems})
        super().__init__(
            f"{path}: {rows} invalid row(s); fix each (or drop them with skip_invalid / --skip-invalid):\n"
            + "\n".join(f"  {p}" for p in self.problems)
        )


class OutsideMediaRootRows(InvalidRows, OutsideMediaRoot):
    """``InvalidRows`` whose every problem is a media path outside the media root."""


ALLOW_OUTSIDE_ENV = "REELRL_ALLOW_OUTSIDE_MEDIA_ROOT"


def outside_media_root_allowed(flag: bool | None = None) -> bool:
    """The opt-out's one resolver: an explicit ``flag`` (a CLI option), else ``$REELRL_ALLOW_OUTSIDE_MEDIA_ROOT``
    (``1``/``true``/``yes``), which reaches every door (Dagster runs, evaluation) alike."""
    if flag is not None:
        return flag
    return os.environ.get(ALLOW_OUTSIDE_ENV, "").strip().lower() in ("1", "true", "yes")


@dataclass
class Sample:
    """One training/evaluation problem in canonical form. Media paths are resolved strings."""

    problem_id: str
    problem: str
    problem_type: str
    data_type: str
    answer: str
    options: list[str] = field(default_factory=list)
    videos: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


def reward_answer_check(sample: Sample) -> None:
    """ValueError when the reward library cannot score ``sample``'s answer for its problem type (the check
    ``load_samples`` runs by default; ``training.rewards.validate_ground_truth`` owns the rule)."""
    from training.rewards import validate_ground_truth

    validate_ground_truth(
        sample.answer, sample.problem_type, options=sample.options or None, data_type=sample.data_type
    )


def answer_problem(sample: Sample, check_answer: Callable[[Sample], None]) -> str | None:
    """What is wrong with ``sample``'s answer (and the fix), or None when ``check_answer`` accepts it. Pure."""
    try:
        check_answer(sample)
    except (KeyError, TypeError, ValueError) as e:
        reason = e.args[0] if isinstance(e, KeyError) and e.args else e
        return (
            f"answer {sample.answer!r:.80} is not a valid {sample.problem_type!r} ground truth: {reason}; fix "
            "the answer, the options or the problem_type"
        )
    return None


def missing_media(sample: Sample, exists: Callable[[str], bool] = os.path.exists) -> list[str]:
    """A message (with the fix) per local media file of ``sample`` that does not exist; URIs are not checked."""
    return [
        f"{kind} {p!r} does not exist; fix the path (relative to the media root) or add the file"
        for kind, paths in (("video", sample.videos), ("image", sample.images))
        for p in paths
        if "://" not in p and not exists(p)
    ]


def _default_resolver() -> Callable[[str], str]:
    """The reward registry's canonicaliser when importable (it rejects unknown types), else identity."""
    try:
        from training.rewards import resolve_problem_type
    except ImportError:
        return lambda name: name
    return resolve_problem_type


def _rows(path: Path) -> Iterator[tuple[str, str, object]]:
    """Yield (location for messages, default problem id, parsed row) for every record of ``path``."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        with path.open("rb") as f:
            for lineno, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError as e:  # one bad line: reported with the others
                    row = DatasetError(
                        f"{path}:{lineno}: invalid JSON ({e}); each line must be one JSON object"
                    )
                yield f"{path}:{lineno}", f"{path.name}:{lineno}", row
    elif suffix == ".json":
        try:
            data = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as e:
            raise DatasetError(f"{path}: invalid JSON ({e}); expected a list of sample objects") from e
        if not isinstance(data, list):
            raise DatasetError(
                f"{path}: top level is {type(data).__name__}; expected a JSON list of sample "
                "objects (use .jsonl for one object per line)"
            )
        for i, row in enumerate(data):
            yield f"{path} record {i}", f"{path.name}#{i}", row
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as e:  # pyarrow raises several types for a corrupt file
            raise DatasetError(f"{path}: cannot read Parquet ({e})") from e
        for i, row in enumerate(table.to_pylist()):
            yield f"{path} record {i}", f"{path.name}#{i}", row
    else:
        raise DatasetError(f"{path}: unsupported file type {path.suffix!r}; use .json, .jsonl or .parquet")


def _text_answer(value: object) -> str:
    """The bare ground truth: unwrap ``<answer>…</answer>``, JSON-encode non-strings."""
    if not isinstance(value, str):
        return json.dumps(value)
    m = _ANSWER.search(value)
    return (m.group(1) if m else value).strip()


def _path_list(value: object, key: str, where: str) -> list[str]:
    """A media field as a list of path strings (a bare string counts as one; ``{"path": …}`` items too)."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise DatasetError(f"{where}: {key!r} must be a list of file paths, got {type(value).__name__}")
    out = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("path"), str):
            item = item["path"]
        if not isinstance(item, str) or not item.strip():
            raise DatasetError(
                f"{where}: {key!r} entries must be non-empty path strings, got {item!r}; embedded "
                "bytes are not supported, write the media to files and list their paths"
            )
        out.append(item)
    return out


def _resolve(p: str, base: Path, confine: Path | None, where: str) -> str:
    """``p`` against ``base``; with ``confine`` (the media root, real path) a local path whose real path,
    symlinks and ``..`` resolved, is not inside it is refused."""
    if "://" in p:
        return p
    path = p if Path(p).is_absolute() else str(base / p)
    if confine is not None and not Path(os.path.realpath(path)).is_relative_to(confine):
        raise OutsideMediaRoot(
            f"{where}: media path {p!r} leads outside the media root {str(base)!r} (to "
            f"{os.path.realpath(path)!r}); put the file under the media root and list it relative to it, set "
            f"media_root to the folder that holds the media, or, if the dataset lists paths elsewhere on "
            f"purpose, opt out with allow_outside_media_root (reelrl cache build --allow-outside-media-root, "
            f"or {ALLOW_OUTSIDE_ENV}=1)"
        )
    return path


def _media(row: dict, data_type: str | None, where: str) -> tuple[list[str], list[str]]:
    videos = _path_list(row.get("videos"), "videos", where)
    images = _path_list(row.get("images"), "images", where)
    # Video-R1's single 'path' key counts only when the EasyR1 lists are empty (files often carry both).
    for p in _path_list(row.get("path"), "path", where) if not videos and not images else []:
        ext = Path(p).suffix.lower()
        if data_type == "video" or (data_type is None and ext in VIDEO_EXTS):
            videos.append(p)
        elif data_type == "image" or (data_type is None and ext in IMAGE_EXTS):
            images.append(p)
        else:
            raise DatasetError(
                f"{where}: cannot tell whether 'path' {p!r} is a video or an image; "
                "set data_type to 'video' or 'image'"
            )
    images += [p for p in _path_list(row.get("image_path"), "image_path", where) if p not in images]
    return videos, images


def _sample(
    row: object,
    where: str,
    default_id: str,
    base: Path,
    resolve: Callable[[str], str],
    default_problem_type: str | None,
    confine: Path | None,
) -> Sample:
    if isinstance(row, DatasetError):
        raise row
    if not isinstance(row, dict):
        raise DatasetError(f"{where}: expected a JSON object, got {type(row).__name__}")
    prompt_key = _prompt_key(row, where)
    answer_key, answer = _answer(row, where)
    problem_type = _problem_type(row, where, resolve, default_problem_type)
    data_type, videos, images = _data_type_and_media(row, where)
    options = _options(row, where)
    pid = row.get("problem_id")
    consumed = {"problem_id", prompt_key, answer_key, "problem_type", "data_type", "options", *_MEDIA_KEYS}
    return Sample(
        problem_id=default_id if pid is None or pid == "" else str(pid),
        problem=row[prompt_key],
        problem_type=problem_type,
        data_type=data_type,
        answer=answer,
        options=[str(o) for o in options],
        videos=[_resolve(p, base, confine, where) for p in videos],
        images=[_resolve(p, base, confine, where) for p in images],
        extra={k: v for k, v in row.items() if k not in consumed},
    )


def _prompt_key(row: dict, where: str) -> str:
    """The key holding the problem text (``problem``, or one of its aliases)."""
    prompt_key = next((k for k in PROMPT_KEYS if row.get(k) is not None), None)
    if prompt_key is None or not isinstance(row[prompt_key], str) or not row[prompt_key].strip():
        raise DatasetError(
            f"{where}: missing problem text; add a non-empty string under 'problem' "
            "(or 'prompt' / 'question')"
        )
    return prompt_key


def _answer(row: dict, where: str) -> tuple[str | None, str]:
    """The key the ground truth came from and its text (a Video-R1 ``solution``'s ``<answer>`` inside)."""
    answer_key = next((k for k in ("answer", "solution") if row.get(k) is not None), None)
    answer = _text_answer(row[answer_key]) if answer_key else ""
    if not answer:
        raise DatasetError(
            f"{where}: missing answer; add the ground truth under 'answer' "
            "(or a Video-R1 'solution' like '<answer>B</answer>')"
        )
    return answer_key, answer


def _problem_type(
    row: dict, where: str, resolve: Callable[[str], str], default_problem_type: str | None
) -> str:
    """The row's problem type (or the default), resolved to its registered name."""
    raw_type = row.get("problem_type") or default_problem_type
    if not isinstance(raw_type, str) or not raw_type.strip():
        raise DatasetError(
            f"{where}: missing problem_type; add one such as 'multiple choice', 'numerical', "
            "'temporal grounding', or pass default_problem_type"
        )
    try:
        return resolve(raw_type)
    except (KeyError, ValueError) as e:
        reason = e.args[0] if isinstance(e, KeyError) and e.args else e  # str(KeyError) adds quotes
        raise DatasetError(f"{where}: {reason}; fix the row's problem_type") from e


def _data_type_and_media(row: dict, where: str) -> tuple[str, list, list]:
    """``data_type`` (given, or inferred from the media) with the row's videos and images; one media kind
    per sample, and a given data_type must match the media."""
    data_type = row.get("data_type")
    if data_type is not None and data_type not in DATA_TYPES:
        raise DatasetError(f"{where}: data_type {data_type!r} is not one of {list(DATA_TYPES)}")
    videos, images = _media(row, data_type, where)
    if videos and images:
        raise DatasetError(
            f"{where}: has both videos {videos} and images {images}; a sample takes one media kind, "
            "split it into two samples"
        )
    inferred = "video" if videos else "image" if images else "text"
    if data_type is not None and data_type != inferred:
        raise DatasetError(
            f"{where}: data_type is {data_type!r} but the sample has "
            f"{'no media' if inferred == 'text' else inferred + ' media'}; fix data_type or the "
            "videos/images/path field"
        )
    return data_type or inferred, videos, images


def _options(row: dict, where: str) -> list:
    options = row.get("options")
    if options is None:
        return []
    if not isinstance(options, list) or not all(isinstance(o, (str, int, float)) for o in options):
        raise DatasetError(f"{where}: 'options' must be a list of strings like 'A. red', got {options!r}")
    return options


_DEFAULT = object()


def _problem(where: str, default_id: str, row: object, error: DatasetError) -> RowProblem:
    """The ``RowProblem`` of a row ``_sample`` refused (its message without the ``where`` prefix)."""
    message = str(error).removeprefix(f"{where}: ")
    pid = row.get("problem_id") if isinstance(row, dict) else None
    return RowProblem(
        where,
        default_id if pid is None or pid == "" else str(pid),
        message,
        isinstance(error, OutsideMediaRoot),
    )


def load_samples(
    path: str | Path,
    media_root: str | Path | None = None,
    resolve_problem_type: Callable[[str], str] | None = None,
    default_problem_type: str | None = None,
    allow_outside_media_root: bool | None = None,
    skipped: list[str] | None = None,
    *,
    skip_invalid: bool = False,
    invalid: list[RowProblem] | None = None,
    check_answer: Callable[[Sample], None] | None = _DEFAULT,  # type: ignore[assignment]
    check_media: bool = True,
) -> list[Sample]:
    """Read every sample of a ``.json`` (list), ``.jsonl`` or ``.parquet`` file, validating each row.

    ``resolve_problem_type(name) -> canonical name`` raises KeyError/ValueError for an unknown type;
    default: ``training.rewards.resolve_problem_type`` if importable, else identity.
    ``default_problem_type`` fills rows without one (e.g. an all-math EasyR1 file).
    ``check_answer(sample)`` raises ValueError for an answer its problem type cannot hold; default: the
    reward library's (``reward_answer_check``) when the problem types are the reward registry's (no
    ``resolve_problem_type`` given), else none. ``check_media``: every local media file must exist.
    ``allow_outside_media_root``: see ``outside_media_root_allowed``. A row with media outside the root is
    invalid, unless ``skipped`` is a list: then it is left out and its message appended there.

    Every invalid row of the file is raised at once as ``InvalidRows`` (``OutsideMediaRootRows`` when all
    are outside the media root); with ``skip_invalid`` they are left out instead and appended to ``invalid``.
    """
    path = Path(path)
    if path.is_dir():
        raise DatasetError(f"{path} is a directory; pass one .json, .jsonl or .parquet file")
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    base = Path(media_root) if media_root is not None else path.parent
    if check_answer is _DEFAULT:
        check_answer = reward_answer_check if resolve_problem_type is None else None
    resolve = resolve_problem_type or _default_resolver()
    confine = None if outside_media_root_allowed(allow_outside_media_root) else Path(os.path.realpath(base))
    samples, problems = [], []
    for where, default_id, row in _rows(path):
        try:
            sample = _sample(row, where, default_id, base, resolve, default_problem_type, confine)
        except DatasetError as e:
            if isinstance(e, OutsideMediaRoot) and skipped is not None:
                skipped.append(str(e))
            else:
                problems.append(_problem(where, default_id, row, e))
            continue
        wrong = [answer_problem(sample, check_answer)] if check_answer is not None else []
        wrong += missing_media(sample) if check_media else []
        wrong = [w for w in wrong if w is not None]
        problems += [RowProblem(where, sample.problem_id, w) for w in wrong]
        if not wrong:
            samples.append(sample)
    if problems and not skip_invalid:
        outside = all(p.outside_media_root for p in problems)
        raise (OutsideMediaRootRows if outside else InvalidRows)(path, problems)
    if invalid is not None:
        invalid.extend(problems)
    return samples


def write_samples_jsonl(
    samples: list[Sample], path: str | Path, media_root: str | Path | None = None
) -> Path:
    """Write ``samples`` as JSONL that ``load_samples(path, media_root)`` reads back to equal ``Sample`` objects.

    ``extra`` keys are written at top level beside the canonical fields (as in the source files). Media paths
    are written relative to ``media_root`` (they must lie under it, as confined paths do), so the file reloads
    inside its media root; without one, as they are.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def rel(paths: list[str]) -> list[str]:
        return [p if media_root is None or "://" in p else os.path.relpath(p, media_root) for p in paths]

    lines = []
    for s in samples:
        record = {
            "problem_id": s.problem_id,
            "problem": s.problem,
            "problem_type": s.problem_type,
            "data_type": s.data_type,
            "answer": s.answer,
            "options": list(s.options),
            "videos": rel(s.videos),
            "images": rel(s.images),
        }
        clash = sorted(set(s.extra) & (set(record) | set(_MEDIA_KEYS)))
        if clash:
            raise DatasetError(
                f"sample {s.problem_id!r}: extra keys {clash} would shadow canonical fields on "
                "reload; rename them"
            )
        lines.append(orjson.dumps(record | s.extra) + b"\n")
    path.write_bytes(b"".join(lines))
    return path
