"""``reelrl cache …``: build, inspect and maintain the Lance media cache from the shell.

Subcommands: ``build``, ``show``, ``stale``, ``invalidate``, ``stats``, ``compact``. Every one takes
``--root`` (default ``$REELRL_HOME/cache``, else ``.reelrl/cache``: where the Dagster graph's
``media_cache`` asset writes) and prints a short table, or with ``--json`` one JSON document (orjson).
Progress lines of ``build`` go to stderr, so ``--json`` output stays parseable.

Exit status: 0 done; 1 ``build`` finished but some sources failed (each is in the failures table with its
reason) or some rows were skipped (media outside the media root: each printed, and under ``skipped_rows``; with
``--skip-invalid``, invalid rows: each printed, and under ``invalid_rows``); 2 bad arguments, a bad dataset file
(every invalid row listed), or no such entry (the message says what to do).

``build`` checks each row's shape at load (``training.data.samples.load_samples``) but not its answer (caching needs
no problem type) nor whether its media exist: a missing or undecodable file is the build's to record, in the
failures table.

The build decodes in ``forkserver`` worker processes: a script that calls this module's ``main`` must guard
its entry point with ``if __name__ == "__main__":`` (the ``reelrl`` console script does).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from typing import Any

EXIT_OK, EXIT_FAILED_SOURCES, EXIT_USAGE = 0, 1, 2


def default_root() -> str:
    return os.path.join(os.environ.get("REELRL_HOME") or ".reelrl", "cache")


# -- output ----------------------------------------------------------------------------------------------
def _emit_json(doc: Any) -> None:
    import orjson

    print(orjson.dumps(doc, option=orjson.OPT_INDENT_2, default=str).decode())


def _table(rows: list[tuple[str, Any]]) -> None:
    width = max((len(k) for k, _ in rows), default=0)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def _failures(failures: list[dict[str, Any]], limit: int = 20) -> None:
    if failures:
        print()
        _columns(("error", "message"), [(f["error"], f["message"]) for f in failures[:limit]])
        if len(failures) > limit:
            print(f"… {len(failures) - limit} more: `reelrl cache stats --json` lists them all")


def _columns(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    cells = [tuple(str(c) for c in header), *[tuple(str(c) for c in r) for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


# -- helpers ---------------------------------------------------------------------------------------------
class UsageError(Exception):
    """Bad arguments or a missing entry: printed without a traceback, exit status 2."""


def _open(args, must_exist: bool = True):
    from cache_store import MediaCache
    from cache_store.keys import local_path

    local = local_path(args.root)  # None for a remote URI: cannot check cheaply, let Lance open it
    if must_exist and local is not None and not os.path.isdir(os.path.join(local, "entries.lance")):
        raise UsageError(
            f"no media cache at {args.root}; build one with `reelrl cache build --root {args.root} "
            "--input DATA.jsonl` or pass --root"
        )
    return MediaCache(args.root, content_hash=getattr(args, "content_hash", False))


def _spec(args, require: bool = True):
    """MediaSpec from the spec flags; None when ``require`` is False and no spec flag was given."""
    from cache_store import MediaSpec
    from cache_store.sampling import factor_for_family

    names = ("fps", "max_frames", "min_frames", "max_pixels", "min_pixels", "total_pixels")
    names += ("image_max_pixels", "image_min_pixels", "preprocess_version")
    given = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    if not require and not given and args.family is None:
        return None
    try:
        return MediaSpec(factor=factor_for_family(args.family or "qwen2_5_vl"), **given)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def _add_spec_flags(p: argparse.ArgumentParser, build: bool) -> None:
    g = p.add_argument_group("sampling spec (qwen-vl-utils names; defaults: MediaSpec's)")
    if build:
        g.add_argument("--fps", type=float, help="frames sampled per second (key field; default 2)")
        g.add_argument("--max-frames", type=int, help="key field (default 16)")
        g.add_argument("--max-pixels", type=int, help="per-frame video budget, key field (default 768 f^2)")
        g.add_argument("--image-max-pixels", type=int, help="image budget, key field (default 16384 f^2)")
    g.add_argument(
        "--family", help="model family giving the resize factor: qwen2_5_vl (28, default), qwen3_vl (32)"
    )
    g.add_argument("--min-frames", type=int)
    g.add_argument("--min-pixels", type=int)
    g.add_argument("--total-pixels", type=int)
    g.add_argument("--image-min-pixels", type=int)
    g.add_argument("--preprocess-version")


# -- subcommands -----------------------------------------------------------------------------------------
def _build(args) -> int:
    from cache_store.progress import Progress
    from training.data.samples import DatasetError, load_samples

    skipped: list[str] = []  # rows whose media lie outside the media root: reported, never cached
    invalid: list = []  # with --skip-invalid, malformed rows: reported, never cached
    try:  # media caching needs no reward type: accept any problem_type, and rows without one
        samples = load_samples(
            args.input, args.media_root, resolve_problem_type=lambda name: name, default_problem_type="any",
            allow_outside_media_root=args.allow_outside_media_root or None, skipped=skipped,
            skip_invalid=args.skip_invalid, invalid=invalid, check_media=False,
        )  # fmt: skip
    except DatasetError as exc:
        raise UsageError(str(exc)) from exc
    for message in skipped:
        print(f"[cache build] skipped row: {message}", file=sys.stderr, flush=True)
    for problem in invalid:
        print(f"[cache build] invalid row dropped (--skip-invalid): {problem}", file=sys.stderr, flush=True)
    media = {(p, "video") for s in samples for p in s.videos} | {
        (p, "image") for s in samples for p in s.images
    }
    sources = sorted(media)
    spec = _spec(args)
    cache = _open(args, must_exist=False)
    n_video = sum(kind == "video" for _, kind in sources)
    print(
        f"[cache build] {len(samples)} samples, {n_video} videos, {len(sources) - n_video} images "
        f"-> {cache.root} (factor {spec.factor}, fps {spec.fps}, max_frames {spec.max_frames})",
        file=sys.stderr,
        flush=True,
    )
    report = cache.build(sources, spec, workers=args.workers, timeout_s=args.timeout, progress=Progress())
    doc = {
        "root": cache.root, "samples": len(samples), "skipped_rows": skipped,
        "invalid_rows": [str(p) for p in invalid], "spec": spec.to_dict(), **vars(report)
    }  # fmt: skip
    if args.json:
        _emit_json(doc)
    else:
        _table(
            [
                ("build", report.build_id),
                ("sources", len(sources)),
                ("hits", report.hits),
                ("built", report.built),
                ("replaced", report.replaced),
                ("failed", report.failed),
                ("skipped", len(skipped)),  # rows with media outside the media root
                ("invalid", len({p.where for p in invalid})),  # rows dropped by --skip-invalid
                ("removed", report.removed),
                ("version", report.version),
                ("seconds", f"{report.seconds:.1f}"),
            ]
        )
        _failures(report.failures)
    return EXIT_FAILED_SOURCES if report.failed or skipped or invalid else EXIT_OK


def _show(args) -> int:
    cache = _open(args)
    try:
        info = cache.show(args.query)
        dumped = str(cache.dump_frames(info["digest"], args.dump_frames)) if args.dump_frames else None
    except (KeyError, ValueError) as exc:
        raise UsageError(exc.args[0] if exc.args else str(exc)) from exc
    if args.json:
        _emit_json({**info, "dumped_frames": dumped})
        return EXIT_OK
    grid_key = f"{info['kind']}_grid_thw"
    grids = ", ".join(f"{fam} {g} ({info['visual_tokens'][fam]} tokens)" for fam, g in info[grid_key].items())
    rows = [
        ("digest", info["digest"]),
        ("source", info["source"]),
        ("kind", info["kind"]),
        ("key", " ".join(f"{k}={v}" for k, v in info["key"].items())),
        ("validity", " ".join(f"{k}={v}" for k, v in info["validity"].items())),
        ("fingerprint", f"size={info['fingerprint']['size']} mtime_ns={info['fingerprint']['mtime_ns']}"),
        ("stale", f"yes: {info['stale_detail']}" if info["stale"] else "no"),
        ("frames", f"{info['t']} x {info['h']} x {info['w']} x {info['c']} uint8 ({info['bytes']:,} bytes)"),
        ("indices", info["indices"]),
        ("timestamps", info["timestamps"]),
        ("fps", f"source {info['source_fps']:g}, sampled {info['sample_fps']:g}"),
        ("total_frames", info["total_frames"]),
        (grid_key, grids or f"none (factor {info['validity']['factor']} matches no known family)"),
        ("build", f"{info['build_id']} at {info['created_at']} (entries version {info['build_version']})"),
        ("version", info["version"]),
    ]
    rows += [
        ("history" if i == 0 else "", f"{e['time']}  {e['kind']} {e['build_id']}  {e['action']}")
        for i, e in enumerate(info["history"])
    ]
    if dumped:
        rows.append(("frames saved", dumped))
    _table(rows)
    return EXIT_OK


def _stale(args) -> int:
    cache = _open(args)
    rows = cache.stale(spec=_spec(args, require=False))
    if args.json:
        _emit_json({"root": cache.root, "stale": rows})
    elif not rows:
        print(f"no stale entries in {cache.root}")
    else:
        _columns(
            ("digest", "kind", "reasons", "detail"),
            [(r["digest"], r["kind"], ",".join(r["reasons"]), r["detail"]) for r in rows],
        )
        print(
            f"\n{len(rows)} stale: `reelrl cache build` rebuilds them, `reelrl cache invalidate` drops them"
        )
    return EXIT_OK


def _invalidate(args) -> int:
    from cache_store.sampling import factor_for_family

    where = {
        name: getattr(args, name)
        for name in ("kind", "fps", "max_frames", "max_pixels", "min_pixels", "min_frames", "factor")
        if getattr(args, name) is not None
    }
    if args.preprocess_version is not None:
        where["preprocess_version"] = args.preprocess_version
    if args.family is not None:
        try:
            where["factor"] = factor_for_family(args.family)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    cache = _open(args)
    try:
        report = cache.invalidate(sources=args.source, digests=args.digest, where=where, dry_run=not args.yes)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if args.json:
        _emit_json(report.to_dict())
        return EXIT_OK
    verb = "would remove" if report.dry_run else "removed"
    print(f"{verb} {len(report.digests)} entries from {len(report.sources)} sources")
    for source in report.sources[:20]:
        print(f"  {source}")
    for what in ("sources", "digests"):
        unmatched = getattr(report, f"unmatched_{what}")
        if unmatched:
            print(f"no entry matched {what}: {', '.join(unmatched[:10])}")
    if report.dry_run and report.digests:
        print("dry run: pass --yes to delete them")
    elif not report.dry_run:
        print(
            f"entries version {report.version_before} -> {report.version}; lineage {report.invalidation_id}"
        )
    return EXIT_OK


def _stats(args) -> int:
    cache = _open(args)
    lineage = cache.lineage()
    last = lineage[-1] if lineage else None
    doc = {
        "root": cache.root,
        **cache.stats(),
        "events": len(lineage),
        "last_event": None
        if last is None
        else {
            k: last[k]
            for k in (
                *("build_id", "kind", "status", "time", "entries_version"),
                *("added", "replaced", "removed", "failed"),
            )
        },
        "failures_list": [
            {k: f[k] for k in ("source", "digest", "error", "message")} for f in cache.failures()
        ],
    }
    if args.json:
        _emit_json(doc)
        return EXIT_OK
    rows = [(k, doc[k]) for k in ("root", "rows", "bytes", "failures", "version", "events")]
    if last is not None:
        status = "" if last["status"] == "complete" else f" ({last['status']}: killed or still running)"
        rows.append(("last event", f"{last['kind']} {last['build_id']} at {last['time']}{status}"))
    _table(rows)
    _failures(doc["failures_list"])
    return EXIT_OK


def _compact(args) -> int:
    cache = _open(args)
    try:
        report = cache.compact(keep_versions=args.keep_versions)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if args.json:
        _emit_json(report.to_dict())
        return EXIT_OK
    _columns(
        ("table", "fragments", "versions", "bytes", "versions removed"),
        [
            (
                t.table,
                f"{t.fragments_before} -> {t.fragments_after}",
                f"{t.versions_before} -> {t.versions_after}",
                f"{t.bytes_before} -> {t.bytes_after}",
                len(t.versions_removed),
            )
            for t in report.tables
        ],
    )
    print(f"kept entries version {report.protected_version} (the newest one lineage names)")
    return EXIT_OK


# -- parser ----------------------------------------------------------------------------------------------
def _guarded(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A subcommand whose UsageError becomes a one-line message on stderr and exit status 2."""

    @functools.wraps(fn)
    def call(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except UsageError as exc:
            print(f"reelrl cache {args.cache_command}: {exc}", file=sys.stderr)
            return EXIT_USAGE

    return call


def add_cache_parser(sub) -> argparse.ArgumentParser:
    """Register ``cache`` and its subcommands on an ``add_subparsers()`` object; returns the parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--root", default=default_root(), help="cache root: a folder or a Lance URI (default: %(default)s)"
    )
    common.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    common.add_argument(
        "--content-hash",
        action="store_true",
        help="fingerprint sources by SHA-256 as well as size (build stores it; checks compare it, not mtime)",
    )

    c = sub.add_parser("cache", help="build, inspect and maintain the Lance media cache")
    cs = c.add_subparsers(dest="cache_command", required=True)

    b = cs.add_parser(
        "build", parents=[common], help="decode every video/image of a dataset file into the cache"
    )
    b.add_argument("--input", required=True, help="dataset file: .jsonl, .json (list) or .parquet")
    b.add_argument("--media-root", help="folder relative media paths resolve against (default: the file's)")
    b.add_argument(
        "--allow-outside-media-root",
        action="store_true",
        help="accept media paths that lead outside the media root (absolute, '..', symlinks); by default such "
        "rows are skipped and reported (also $REELRL_ALLOW_OUTSIDE_MEDIA_ROOT=1)",
    )
    b.add_argument(
        "--skip-invalid",
        action="store_true",
        help="drop malformed rows (each printed, listed under invalid_rows, exit status 1) instead of stopping "
        "with every one of them listed",
    )
    b.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    b.add_argument(
        "--timeout", type=float, default=120.0, help="seconds per item before its worker is killed"
    )
    _add_spec_flags(b, build=True)
    b.set_defaults(func=_guarded(_build))

    s = cs.add_parser("show", parents=[common], help="metadata of one entry: by source path or digest")
    s.add_argument("query", help="source path (as built) or 16-hex digest")
    s.add_argument("--dump-frames", metavar="OUT.npy", help="also save the uint8 (T,H,W,3) frames with numpy")
    s.set_defaults(func=_guarded(_show))

    st = cs.add_parser(
        "stale",
        parents=[common],
        help="entries whose source changed or is gone (or, given spec flags, that a spec would not serve)",
    )
    _add_spec_flags(st, build=False)
    st.set_defaults(func=_guarded(_stale))

    i = cs.add_parser(
        "invalidate",
        parents=[common],
        help="delete entries matching all given selectors (dry run without --yes)",
    )
    i.add_argument("--source", action="append", help="source path (repeatable)")
    i.add_argument("--digest", action="append", help="entry digest (repeatable)")
    i.add_argument("--kind", choices=["video", "image"])
    i.add_argument("--fps", type=float)
    i.add_argument("--max-frames", type=int)
    i.add_argument("--max-pixels", type=int)
    i.add_argument("--min-pixels", type=int)
    i.add_argument("--min-frames", type=int)
    i.add_argument("--factor", type=int)
    i.add_argument("--family", help="select the factor of a model family (qwen2_5_vl: 28, qwen3_vl: 32)")
    i.add_argument("--preprocess-version")
    i.add_argument("--yes", action="store_true", help="really delete (otherwise only list the matches)")
    i.set_defaults(func=_guarded(_invalidate))

    sa = cs.add_parser("stats", parents=[common], help="rows, bytes, failures, Lance version, last build")
    sa.set_defaults(func=_guarded(_stats))

    co = cs.add_parser("compact", parents=[common], help="merge fragments and remove old Lance versions")
    co.add_argument("--keep-versions", type=int, default=1, help="newest versions kept per table (default 1)")
    co.set_defaults(func=_guarded(_compact))
    return c


def main(argv: list[str] | None = None) -> int:
    """``python -m reelrl.cache_cli build …`` (same as ``reelrl cache build …``)."""
    parser = argparse.ArgumentParser(prog="reelrl")
    add_cache_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["cache", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
