"""``reelrl reward …``: score model responses from a JSONL file, list the problem types.

``reelrl reward score --input F.jsonl [--output G.jsonl]`` reads one JSON object per line:

- ``problem_type`` (any registered spelling, see ``reelrl reward types``), ``response`` (the model's
  text) and the ground truth under ``answer``, or else ``ground_truth``, or else ``solution`` (the
  first of them present and not null; Video-R1's ``"<answer>X</answer>"`` solutions work as they
  are; a non-string answer such as ``[0, 5]`` or ``{"time": [0, 5]}`` is scored as its JSON text);
- optionally ``options`` (list of strings), ``data_type`` (``video``/``image``), ``problem_id``.

It writes, in order and as it goes (the file is never held in memory), each input object with a
``scores`` object added: ``{"overall", "accuracy", "format", …the family's extra metrics}`` from
``training.rewards.score_batch`` (``overall = accuracy_weight·accuracy + format_weight·format``).
Other fields pass through untouched; an existing ``scores`` field is replaced. Blank lines are
skipped. ``--input -`` reads stdin; the default output is stdout.

A bad line (invalid JSON, a missing field, an unknown problem type, a malformed ground truth) stops
the run with ``FILE, line N: what is wrong`` and how to fix it (lines before it are already
written); with ``--skip-invalid`` that line is written as its object (``{}`` if unreadable) plus
``{"error": "…"}`` and scoring goes on. A summary (lines, errors, mean overall and accuracy per
problem type) goes to stderr.

Judging: with ``--judge-url`` and ``--judge-model`` the judge-graded families (open-ended,
preference) are scored by that OpenAI-compatible endpoint (``training.rewards.judge``; key from the
environment variable ``--judge-api-key-env``, never printed); a record's ``problem`` (or
``question``) is the question the judge sees. With a judge, lines are read ``--block`` at a time so
their judge requests go out concurrently (without one, each line is written as soon as it is read);
output stays in input order. Without a judge those families use their
rule-based score and report ``judge_used: 0``.

Exit status: 0 every line scored; 1 some line was invalid (stopped, or skipped); 2 bad arguments
(no such input file, negative weights, a bad judge setting).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

EXIT_OK, EXIT_INVALID_LINES, EXIT_USAGE = 0, 1, 2
ANSWER_KEYS = ("answer", "ground_truth", "solution")
_SHOWN_ERRORS = 10
_SCORE_DESCRIPTION = """\
Each input line is one JSON object with problem_type, response and answer (or ground_truth, or
solution), optionally options, data_type and problem_id. Each output line is that object plus
"scores": {"overall", "accuracy", "format", ...}, in input order. A bad line stops the run with its
file and line number (or, with --skip-invalid, is written with an "error" field). A summary goes to
stderr. Exit status: 0 all scored, 1 some line invalid, 2 bad arguments."""


class UsageError(Exception):
    """Bad arguments: printed without a traceback, exit status 2."""


class InvalidLine(ValueError):
    """A line that cannot be scored; the message says what is wrong and how to fix it."""


@dataclass
class _Summary:
    lines: int = 0
    errors: int = 0
    per_type: dict[str, list[float]] = field(default_factory=dict)  # name -> [count, Σoverall, Σaccuracy]

    def add(self, problem_type: str, scores: dict[str, float]) -> None:
        totals = self.per_type.setdefault(problem_type, [0, 0.0, 0.0])
        totals[0] += 1
        totals[1] += scores["overall"]
        totals[2] += scores["accuracy"]

    def print(self, name: str, out: IO[str]) -> None:
        scored = self.lines - self.errors
        print(f"{name}: {self.lines} lines, {scored} scored, {self.errors} invalid", file=out)
        if not self.per_type:
            return
        width = max(len("problem type"), *(len(t) for t in self.per_type))
        print(f"{'problem type':<{width}}  {'lines':>6}  {'overall':>8}  {'accuracy':>8}", file=out)
        for problem_type in sorted(self.per_type):
            n, overall, accuracy = self.per_type[problem_type]
            print(f"{problem_type:<{width}}  {n:>6}  {overall / n:>8.4f}  {accuracy / n:>8.4f}", file=out)


def _record(raw: bytes) -> dict[str, Any]:
    try:
        record = json.loads(raw)
    except ValueError as err:  # JSONDecodeError and invalid UTF-8 alike
        raise InvalidLine(f"invalid JSON ({err}); each line must be one JSON object") from None
    if not isinstance(record, dict):
        raise InvalidLine(
            f"expected a JSON object, got {type(record).__name__}; each line must be one object"
        )
    return record


def _item(record: dict[str, Any]) -> dict[str, Any]:
    """The ``score_batch`` item of a record, or InvalidLine."""
    from training.rewards import get_scorer, resolve_problem_type

    answer_key = next((key for key in ANSWER_KEYS if record.get(key) is not None), None)
    missing = [key for key in ("problem_type", "response") if key not in record]
    missing += ["answer (or ground_truth / solution)"] if answer_key is None else []
    if missing:
        raise InvalidLine(
            f"missing field(s) {', '.join(missing)}; each line needs problem_type, response, answer"
        )
    response, answer, options = record["response"], record[answer_key], record.get("options")
    if not isinstance(response, str):
        raise InvalidLine(f"response must be a string (the model's text), got {type(response).__name__}")
    if options is not None and (
        not isinstance(options, list) or not all(isinstance(o, str) for o in options)
    ):
        raise InvalidLine(
            f'options must be a list of strings like ["A. red", "B. blue"], got {options!r:.80}'
        )
    data_type = record.get("data_type", "video")
    if not isinstance(data_type, str):
        raise InvalidLine(f'data_type must be "video" or "image", got {data_type!r:.40}')
    try:
        problem_type = resolve_problem_type(record["problem_type"])
    except ValueError as err:
        raise InvalidLine(f"{err}; `reelrl reward types` lists the names") from None
    item = {
        "response": response,
        "ground_truth": answer if isinstance(answer, str) else json.dumps(answer),
        "problem_type": problem_type,
        "options": options,
        "data_type": data_type,
        "problem_id": record.get("problem_id"),
    }
    question = record.get("problem", record.get("question"))
    if isinstance(question, str) and get_scorer(problem_type).takes("question"):
        item["question"] = question
    return item


def _score(item: dict[str, Any], weights, format_spec, judge=None) -> dict[str, float]:
    from training.rewards import score_batch, validate_ground_truth

    try:  # the rule the dataset loader applies too (a multiple-choice key among its options, …)
        validate_ground_truth(
            item["ground_truth"], item["problem_type"], options=item["options"], data_type=item["data_type"]
        )
        return score_batch([item], weights=weights, format_spec=format_spec, judge=judge)[0]
    except ValueError as err:  # the scorer parses the ground truth first: a data error
        raise InvalidLine(
            f"answer {item['ground_truth']!r:.80} is not a valid {item['problem_type']!r} ground truth: {err}"
        ) from None


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    for number, raw in enumerate(stream, start=1):
        if raw.strip():
            yield number, raw


@contextlib.contextmanager
def _open_input(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        stream = open(path, "rb")  # noqa: SIM115 (closed below)
    except OSError as err:
        raise UsageError(f"cannot read --input {path}: {err.strerror}") from None
    with stream:
        yield stream


@contextlib.contextmanager
def _open_output(path: str | None) -> Iterator[IO[str]]:
    if path is None or path == "-":
        yield sys.stdout
        return
    try:
        stream = open(path, "w", encoding="utf-8")  # noqa: SIM115 (closed below)
    except OSError as err:
        raise UsageError(f"cannot write --output {path}: {err.strerror}") from None
    with stream:
        yield stream


def _judge(args: argparse.Namespace):
    """The judge client the options describe, or None; UsageError for half or bad settings."""
    from training.rewards.judge import JudgeClient, JudgeConfig

    try:
        config = JudgeConfig.optional(
            args.judge_url,
            args.judge_model,
            api_key_env=args.judge_api_key_env,
            timeout_s=args.judge_timeout,
            max_concurrency=args.judge_concurrency,
            cache_path=args.judge_cache,
        )
    except ValueError as err:
        raise UsageError(f"invalid judge setting (--judge-url, --judge-model, …): {err}") from None
    return None if config is None else JudgeClient(config)


def _blocks(lines: Iterator[tuple[int, bytes]], size: int) -> Iterator[list[tuple[int, bytes]]]:
    block: list[tuple[int, bytes]] = []
    for line in lines:
        block.append(line)
        if len(block) >= size:
            yield block
            block = []
    if block:
        yield block


def _graded(lines: list[tuple[int, bytes]], judge):
    """The judge with the verdicts of this block's valid lines fetched in one concurrent call (bad
    lines are reported when they are scored, one by one)."""
    from training.rewards.registry import grade_ahead

    items = []
    for _, raw in lines:
        try:
            items.append(_item(_record(raw)))
        except InvalidLine:
            continue
    try:
        return grade_ahead(items, judge)
    except (KeyError, TypeError, ValueError):  # a malformed ground truth: each line is judged alone
        return judge


def _judged_lines(source: IO[bytes], block: int, judge) -> Iterator[tuple[int, bytes, Any]]:
    """``(line number, raw line, judge to score it with)``, reading ``block`` lines at a time."""
    for chunk in _blocks(_lines(source), block):
        graded = None if judge is None else _graded(chunk, judge)
        for number, raw in chunk:
            yield number, raw, graded


def _score_command(args: argparse.Namespace) -> int:
    from training.rewards import FormatSpec, RewardWeights

    try:
        weights = RewardWeights(accuracy=args.accuracy_weight, format=args.format_weight)
    except ValueError as err:
        raise UsageError(f"invalid --accuracy-weight / --format-weight: {err}") from None
    if args.block < 1:
        raise UsageError(f"--block must be >= 1, got {args.block}")
    judge = _judge(args)
    format_spec = FormatSpec(require_think=args.require_think)
    name = "<stdin>" if args.input == "-" else args.input
    summary, status = _Summary(), EXIT_OK
    with _open_input(args.input) as source, _open_output(args.output) as sink:
        block = 1 if judge is None else args.block  # without a judge every line is written as it is read
        for number, raw, graded in _judged_lines(source, block, judge):
            summary.lines += 1
            record: dict[str, Any] = {}
            try:
                record = _record(raw)
                item = _item(record)
                record["scores"] = _score(item, weights, format_spec, graded)
                summary.add(item["problem_type"], record["scores"])
            except InvalidLine as err:
                summary.errors += 1
                status = EXIT_INVALID_LINES
                where = f"{name}, line {number}"
                if record.get("problem_id") is not None:
                    where += f" (problem_id={record['problem_id']!r})"
                if not args.skip_invalid:
                    sink.flush()
                    print(f"reelrl reward score: {where}: {err}", file=sys.stderr)
                    print(
                        "fix the line, or pass --skip-invalid to record the error and go on", file=sys.stderr
                    )
                    break
                if summary.errors <= _SHOWN_ERRORS:
                    print(f"reelrl reward score: {where}: {err} (skipped)", file=sys.stderr)
                record.pop("scores", None)
                record["error"] = str(err)
            sink.write(json.dumps(record, ensure_ascii=False) + "\n")
    if judge is not None:
        stats = judge.stats
        print(f"judge {args.judge_model} at {args.judge_url}: {stats}", file=sys.stderr)
    if summary.errors > _SHOWN_ERRORS:
        print(
            f"… {summary.errors - _SHOWN_ERRORS} more invalid lines: see their error fields", file=sys.stderr
        )
    summary.print("reelrl reward score", sys.stderr)
    return status


def _types_command(args: argparse.Namespace) -> int:
    from training.rewards import known_problem_types

    types = known_problem_types()
    if args.json:
        print(json.dumps({name: list(aliases) for name, aliases in types.items()}, indent=2))
        return EXIT_OK
    width = max((len(name) for name in types), default=0)
    print(f"{'problem type':<{width}}  aliases")
    for name, aliases in types.items():
        print(f"{name:<{width}}  {', '.join(aliases) or '-'}")
    return EXIT_OK


def _guarded(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A subcommand whose UsageError becomes a one-line message on stderr and exit status 2."""

    def call(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except UsageError as err:
            print(f"reelrl reward {args.reward_command}: {err}", file=sys.stderr)
            return EXIT_USAGE

    return call


def add_reward_parser(sub) -> argparse.ArgumentParser:
    """Register ``reward`` (``score``, ``types``) on an ``add_subparsers()`` object; returns the parser."""
    r = sub.add_parser("reward", help="score responses with the reward library; list problem types")
    rs = r.add_subparsers(dest="reward_command", required=True)

    s = rs.add_parser(
        "score",
        help="score a JSONL file of responses (problem_type, response, answer per line)",
        description=_SCORE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--input", required=True, help="JSONL file, one object per line ('-' for stdin)")
    s.add_argument("--output", help="JSONL file to write (default: stdout)")
    s.add_argument(
        "--accuracy-weight", type=float, default=0.9, help="weight of accuracy in overall (%(default)s)"
    )
    s.add_argument(
        "--format-weight", type=float, default=0.1, help="weight of format in overall (%(default)s)"
    )
    s.add_argument(
        "--require-think",
        action="store_true",
        help="format needs <think>…</think> then <answer>…</answer> (Video-R1, EasyR1 r1v)",
    )
    s.add_argument(
        "--skip-invalid",
        action="store_true",
        help="write {'error': …} for a bad line and go on (exit status 1 at the end) instead of stopping",
    )
    s.add_argument("--block", type=int, default=32, help="lines judged together, concurrently (%(default)s)")
    j = s.add_argument_group("LLM judge (open-ended, preference); off unless --judge-url is given")
    j.add_argument("--judge-url", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
    j.add_argument("--judge-model", help="model name the endpoint serves")
    j.add_argument(
        "--judge-api-key-env",
        default="REELRL_JUDGE_API_KEY",
        help="env variable holding the key (%(default)s)",
    )
    j.add_argument("--judge-timeout", type=float, default=60.0, help="seconds per request (%(default)s)")
    j.add_argument("--judge-concurrency", type=int, default=8, help="requests in flight (%(default)s)")
    j.add_argument("--judge-cache", help="JSONL file of judge replies: a rerun sends no repeated request")
    s.set_defaults(func=_guarded(_score_command))

    t = rs.add_parser("types", help="list the registered problem types and their aliases")
    t.add_argument("--json", action="store_true", help="print {name: [aliases]} as JSON")
    t.set_defaults(func=_guarded(_types_command))
    return r


def main_reward(argv: list[str] | None = None) -> int:
    """``python -m reelrl.reward_cli score …`` (same as ``reelrl reward score …``)."""
    parser = argparse.ArgumentParser(prog="reelrl")
    add_reward_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["reward", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main_reward())
