"""``reelrl eval …``: benchmark records, scoring of a predictions file, and full evaluation runs.

- ``reelrl eval list``: the registered benchmarks;
- ``reelrl eval samples --benchmark B --annotations F [--media-root R]``: the canonical records as JSONL;
- ``reelrl eval score --benchmark B --annotations F --predictions P [--mode official|robust|both] [--json]
  [--partial] [--dedupe first|last]``: every metric and aggregate of a JSONL of ``{id, response}`` (unknown,
  empty and unscorable counted); a record without a prediction is an error unless ``--partial`` (then the
  result says ``partial: true`` and ``counts.missing``), and so is a repeated id unless ``--dedupe``;
- ``reelrl eval compare DIR… [--plot out.png]``: the headline of every run under the folders, models x
  benchmarks (a row per model, revision and settings), as a table and a grouped bar chart;
- ``reelrl eval run --model PATH --benchmark B[,B…] --annotations F[,F…] [--media-root R[,R…]] [--cache ROOT]``:
  generate (greedy unless sampling flags say otherwise), score and aggregate, resumable per sample id, one
  output folder per benchmark under ``--out`` keyed by model revision and settings.

Media settings (``evaluation.media_spec``, the resolver the Dagster evaluation cell uses too): ``--media-spec
benchmark`` (the default) starts from the frame settings the benchmark documents (its adapter's
``media_settings``, else ``MediaSpec``'s defaults), ``--media-spec training --training-spec FILE`` from the
training cache's spec; then the global flags (``--fps``, ``--max-frames``, ``--image-max-pixels``, …), then
``--media B:key=value,…`` for one benchmark. The chosen spec and where each value came from are printed and
written in each manifest. A judge (``--judge-url``/``--judge-model``) grades the open-ended
answers of LLM-judged benchmarks. Exit status: 0 done; 1 done but some samples failed (media, generation or
scoring, each listed in results.json); 2 bad arguments or annotation files; 130 interrupted (Ctrl-C: the
predictions saved so far are kept, and the same command resumes after them).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from evaluation.media_spec import DEFAULT_MEDIA_FROM, MEDIA_FROM, SPEC_FIELDS
from reelrl.cache_cli import default_root
from reelrl.interrupt import interrupted

EXIT_OK, EXIT_FAILED_SAMPLES, EXIT_USAGE = 0, 1, 2


def _split(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _judge(args: argparse.Namespace):
    from training.rewards.judge import JudgeClient, JudgeConfig

    config = JudgeConfig.optional(args.judge_url, args.judge_model, cache_path=args.judge_cache)
    return JudgeClient(config) if config is not None else None


def _adapter(name: str, args: argparse.Namespace, judge: Any):
    from evaluation.adapters import get_adapter
    from evaluation.adapters.registry import adapter_class

    options: dict[str, Any] = {}
    if adapter_class(name).uses_judge:
        options["judge"] = judge
    if getattr(args, "prompt_style", None):
        options["prompt_style"] = args.prompt_style
    return get_adapter(name, **options)


def _paired(names: list[str], values: list[str], flag: str, required: bool) -> list[str | None]:
    if not values and not required:
        return [None] * len(names)
    if len(values) == 1 and len(names) > 1 and not required:
        return values * len(names)
    if len(values) != len(names):
        raise ValueError(f"{flag}: give one per benchmark ({len(names)} benchmarks, {len(values)} values)")
    return list(values)


# -- list / samples / score ----------------------------------------------------------------------------
def _list(args: argparse.Namespace) -> int:
    from evaluation.adapters import list_benchmarks

    for name in list_benchmarks():
        print(name)
    return EXIT_OK


def _samples(args: argparse.Namespace) -> int:
    adapter = _adapter(args.benchmark, args, None)
    records = adapter.load(args.annotations, args.media_root)
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
    try:
        for r in records:
            out.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")
    finally:
        if args.out:
            out.close()
    print(f"{len(records)} {args.benchmark} records", file=sys.stderr)
    return EXIT_OK


def _print_results(doc: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(doc, indent=2, ensure_ascii=False, default=str))
        return
    for key, value in doc.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for k, v in value.items():
                print(
                    f"  {k}: {json.dumps(v, ensure_ascii=False, default=str) if isinstance(v, dict) else v}"
                )
        else:
            print(f"{key}: {value}")


def _score(args: argparse.Namespace) -> int:
    from evaluation.offline import read_predictions, score_predictions
    from evaluation.runner import resolve_modes

    adapter = _adapter(args.benchmark, args, _judge(args))
    records = adapter.load(args.annotations, args.media_root)
    predictions = read_predictions(args.predictions, dedupe=args.dedupe)
    result = score_predictions(
        adapter, records, predictions, resolve_modes(args.mode), partial=args.partial, source=args.predictions
    )
    doc = {"benchmark": args.benchmark, **result}
    _print_results(doc, args.json)
    failed = result["counts"]["scoring_failed"]
    return EXIT_FAILED_SAMPLES if any(failed.values()) else EXIT_OK


# -- run -----------------------------------------------------------------------------------------------
def _overrides(text: str, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in _split(text):
        key, _, value = part.partition("=")
        if key not in SPEC_FIELDS or not value:
            raise ValueError(f"{where}: expected key=value with key in {list(SPEC_FIELDS)}, got {part!r}")
        out[key] = float(value) if key == "fps" else int(value)
    return out


def _specs(args: argparse.Namespace, names: list[str], model_type: str) -> dict[str, Any]:
    """Each benchmark's ``ResolvedMediaSpec``: ``--media-spec``'s starting point, the global flags, then that
    benchmark's ``--media`` settings."""
    from evaluation.media_spec import resolve_media_spec, spec_from_json

    global_flags = {k: getattr(args, k) for k in SPEC_FIELDS if getattr(args, k) is not None}
    per_bench: dict[str, dict[str, Any]] = {}
    for item in args.media or []:
        bench, _, rest = item.partition(":")
        if bench not in names:
            raise ValueError(f"--media {item!r}: {bench!r} is not one of the benchmarks of this run {names}")
        per_bench.setdefault(bench, {}).update(_overrides(rest, f"--media {item!r}"))
    training = None
    if args.training_spec:
        if args.media_spec != "training":
            raise ValueError("--training-spec is the spec --media-spec training starts from; add that flag")
        data = json.loads(Path(args.training_spec).read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("spec"), dict):
            data = data["spec"]  # {"spec": …}, as reelrl cache build --json prints it
        if not isinstance(data, dict):
            raise ValueError(f"--training-spec {args.training_spec}: expected a JSON object (a MediaSpec)")
        training = spec_from_json(data, args.training_spec)
    specs = {}
    for name in names:
        choices = [("flags", global_flags), (f"--media {name}:", per_bench.get(name, {}))]
        specs[name] = resolve_media_spec(
            "evaluation", model_type, benchmark=name, media_from=args.media_spec, training_spec=training,
            choices=choices,
        )  # fmt: skip
    return specs


def _engine(args: argparse.Namespace, options: dict[str, Any]):
    """The generation engine of ``--engine``; ``options`` (``--engine-option``) go to vLLM."""
    if args.engine == "vllm":
        # vLLM logs to stdout unless told otherwise (read when vllm is first imported): stdout is the
        # results here (--json)
        os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
        from training.engines.vllm_async import VLLMAsyncEngine

        return VLLMAsyncEngine(args.model, **options)
    from training.engines.hf import HFEngine

    return HFEngine.from_pretrained(args.model, batch_size=args.batch_size)


def _engine_options(args: argparse.Namespace) -> dict[str, Any]:
    if not args.engine_option:
        return {}
    if args.engine != "vllm":
        raise ValueError("--engine-option sets vLLM engine arguments: use it with --engine vllm")
    from training.engines.vllm import parse_options

    return parse_options(args.engine_option)


def _run(args: argparse.Namespace) -> int:
    from cache_store import MediaCache
    from evaluation.manifest import as_plain, model_revision
    from evaluation.predictions import PredictionLog
    from evaluation.runner import BenchmarkJob, run_benchmarks
    from training.engines.base import SamplingParams

    names = _split(args.benchmark)
    if not names:
        raise ValueError("--benchmark: name at least one benchmark (reelrl eval list)")
    annotations = _paired(names, _split(args.annotations), "--annotations", required=True)
    roots = _paired(names, _split(args.media_root), "--media-root", required=False)
    config = json.loads((Path(args.model) / "config.json").read_text()) if Path(args.model).is_dir() else {}
    specs = _specs(args, names, config.get("model_type", args.model))
    sampling = SamplingParams(
        n=1, temperature=args.temperature, top_p=args.top_p, top_k=args.top_k, max_new_tokens=args.max_new_tokens,
        seed=args.seed,
    )  # fmt: skip
    engine_options = _engine_options(args)  # checked before any work
    judge = _judge(args)
    revision = model_revision(args.model)
    jobs = []
    for name, ann, root in zip(names, annotations, roots):
        adapter = _adapter(name, args, judge)
        records = adapter.load(ann, root)
        engine = [args.engine, engine_options] if args.engine != "hf" else []  # hf runs keep their folders
        settings = json.dumps(
            [args.model, revision, as_plain(specs[name].spec), as_plain(sampling), *engine], sort_keys=True
        )
        tag = hashlib.sha1(settings.encode()).hexdigest()[:10]
        out = Path(args.out) / f"{Path(args.model).name or 'model'}-{tag}" / name
        jobs.append(BenchmarkJob(adapter, records, out, specs[name].spec, ann, spec_source=specs[name]))
    try:
        engine = _engine(args, engine_options)
        try:
            results = run_benchmarks(
                engine, jobs, MediaCache(args.cache), model_id=args.model, model_revision=revision,
                sampling=sampling, batch_size=args.batch_size, mode=args.mode, media_workers=args.media_workers,
                queue_size=args.queue_size, overlap=not args.sequential,
            )  # fmt: skip
        finally:
            engine.close()
    except KeyboardInterrupt:  # each appended prediction is complete (fsynced): the next run resumes after it
        saved = sum(len(set(PredictionLog(j.out_dir).rows) & {r.id for r in j.records}) for j in jobs)
        total = sum(len(j.records) for j in jobs)
        return interrupted(f"{saved} of {total} predictions saved; re-run the same command to resume")
    failed = 0
    for job, res in zip(jobs, results):
        c = res.counts
        failed += c["media_failed"] + c["generation_failed"] + sum(c["scoring_failed"].values())
        doc = {
            "benchmark": res.benchmark,
            "out_dir": str(job.out_dir),
            "partial": res.partial,
            "aggregates": res.aggregates,
            "counts": c,
            "media_spec": as_plain(job.spec),
            "media_spec_source": job.spec_source.source,
        }
        failures = [("media", f) for f in res.media_failures] + [
            ("generation", f) for f in res.generation_failures
        ]
        if failures:  # which samples, and why (also in results.json)
            doc["failed_samples"] = {
                str(f.get("id")): f"{stage}: {f.get('reason', '')}" for stage, f in failures
            }
        _print_results(doc, args.json)
    return EXIT_FAILED_SAMPLES if failed else EXIT_OK


def _compare(args: argparse.Namespace) -> int:
    from evaluation.compare import collect, comparison_plot, comparison_table

    rows = collect(args.runs)
    if not rows:
        raise ValueError(f"no results.json under {args.runs}")
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False, default=str))
    else:
        print(comparison_table(rows, args.mode))
    if args.plot:
        print(f"plot: {comparison_plot(rows, args.plot, args.mode)}", file=sys.stderr)
    return EXIT_OK


# -- parser --------------------------------------------------------------------------------------------
def _common(p: argparse.ArgumentParser, benchmarks: str = "one") -> None:
    p.add_argument(
        "--benchmark",
        required=True,
        help="benchmark name" + (" (comma list)" if benchmarks == "many" else ""),
    )
    p.add_argument(
        "--annotations",
        required=True,
        help="annotation file" + ("(s), one per benchmark" if benchmarks == "many" else ""),
    )
    p.add_argument("--media-root", default=None, help="folder the records' media paths are relative to")
    p.add_argument("--prompt-style", default=None, help="adapter prompt style (e.g. letter | reelrl)")


def _judge_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--judge-url", default=None, help="OpenAI-compatible base URL of an LLM judge")
    p.add_argument("--judge-model", default=None, help="the judge's model name")
    p.add_argument("--judge-cache", default=None, help="JSONL cache of judge replies (resumable judging)")


def add_eval_parser(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("eval", help="benchmark records, scoring and evaluation runs")
    es = e.add_subparsers(dest="eval_command", required=True)

    es.add_parser("list", help="registered benchmarks").set_defaults(func=_guarded(_list))

    s = es.add_parser("samples", help="canonical records of an annotation file, as JSONL")
    _common(s)
    s.add_argument("--out", default=None, help="write to this file instead of stdout")
    s.set_defaults(func=_guarded(_samples))

    sc = es.add_parser("score", help="score a predictions JSONL of {id, response}")
    _common(sc)
    sc.add_argument("--predictions", required=True)
    sc.add_argument("--mode", default="both", choices=["official", "robust", "both"])
    sc.add_argument(
        "--partial",
        action="store_true",
        help="score only the records that have a prediction (the result says partial: true and counts the "
        "missing); without it a record with no prediction is an error",
    )
    sc.add_argument(
        "--dedupe",
        choices=["first", "last"],
        default=None,
        help="which copy of an id on several lines counts; without it a repeated id is an error",
    )
    sc.add_argument("--json", action="store_true", help="one JSON document")
    _judge_flags(sc)
    sc.set_defaults(func=_guarded(_score))

    c = es.add_parser("compare", help="headline scores of every run under some folders: table and plot")
    c.add_argument("runs", nargs="+", help="folders holding run folders (results.json + manifest.json)")
    c.add_argument("--mode", default="official", choices=["official", "robust"])
    c.add_argument("--plot", default=None, help="write a grouped bar chart (PNG) here")
    c.add_argument("--json", action="store_true", help="every row as JSON instead of the table")
    c.set_defaults(func=_guarded(_compare))

    r = es.add_parser("run", help="generate, score and aggregate (resumable per sample id)")
    _common(r, "many")
    r.add_argument("--model", required=True, help="HF checkpoint folder (or hub id with --engine vllm)")
    r.add_argument("--engine", default="hf", choices=["hf", "vllm"])
    r.add_argument(
        "--engine-option",
        action="append",
        help="vLLM engine argument KEY=VALUE (repeatable, or comma-separated): dtype=float32, "
        "enforce_eager=true, max_model_len=8192, tensor_parallel_size=2, kv_cache_memory_bytes=...",
    )
    r.add_argument("--cache", default=default_root(), help="Lance media cache root")
    r.add_argument("--out", default=os.path.join(os.environ.get("REELRL_HOME") or ".reelrl", "evals"))
    r.add_argument("--mode", default="both", choices=["official", "robust", "both"])
    r.add_argument(
        "--media-spec",
        default=DEFAULT_MEDIA_FROM,
        choices=list(MEDIA_FROM),
        help="where the frame settings start: the benchmark's documented settings (default, as the Dagster "
        "evaluation cell) or the training cache's spec (--training-spec)",
    )
    r.add_argument(
        "--training-spec",
        default=None,
        help="JSON file of the training cache's MediaSpec, for --media-spec training: a bare spec or an "
        "object with a 'spec' key (`reelrl cache build --json` prints one)",
    )
    for key in SPEC_FIELDS:
        r.add_argument(
            "--" + key.replace("_", "-"), dest=key, type=float if key == "fps" else int, default=None,
            help=f"MediaSpec.{key} for every benchmark of the run",
        )  # fmt: skip
    r.add_argument(
        "--media",
        action="append",
        help="per-benchmark media settings: B:max_frames=64,fps=1,image_max_pixels=1048576",
    )
    r.add_argument("--batch-size", type=int, default=8)
    r.add_argument("--queue-size", type=int, default=2, help="batches prefetched between stages")
    r.add_argument("--media-workers", type=int, default=2, help="decode processes")
    r.add_argument("--max-new-tokens", type=int, default=1024)
    r.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    r.add_argument("--top-p", type=float, default=1.0)
    r.add_argument("--top-k", type=int, default=0)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--sequential", action="store_true", help="no stage overlap (the baseline)")
    r.add_argument("--json", action="store_true")
    _judge_flags(r)
    r.set_defaults(func=_guarded(_run))


def _guarded(func):
    """A subcommand whose bad arguments and annotation files exit 2 with the message (no traceback)."""
    from evaluation.adapters.registry import UnknownBenchmarkError

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (ValueError, FileNotFoundError, UnknownBenchmarkError) as e:
            print(f"reelrl eval {args.eval_command}: {e}", file=sys.stderr)
            return EXIT_USAGE

    return run
