"""vLLM against the trainer, per family and modality: |vLLM log-prob - trainer log-prob| of sampled tokens.

Usage (needs ``make setup-vllm``): ``.venv-vllm/bin/python benchmarks/vllm_logprob_gap.py [--dtype float32]
[--workdir .reelrl/bench_vllm] [--out benchmarks/vllm_results/logprob_gap.json]``.

For Qwen2-VL, Qwen2.5-VL and Qwen3-VL ("small" tiny checkpoints, head_dim 64) and each prompt case of
``demo_kit.synthetic.engine_media`` (text, image, video with even, odd and long frame counts, image+video, two
videos; frames read from a Lance cache), vLLM's offline engine samples 4 responses of 16 tokens at
temperature 1 and reports each token's log-prob; the trainer's ``token_logprobs`` scores the same tokens. The
table gives the largest and the mean gap per case, and the engine's start time and resident memory. On a GPU,
``--dtype bfloat16`` measures what bf16 rollouts against an fp32 trainer cost (vLLM in bf16, the trainer in
float32).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FAMILIES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")


def rss_gb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**30


def measure(family: str, work: Path, dtype: str) -> dict:
    import torch

    from demo_kit.synthetic.engine_media import cached_media, cases
    from demo_kit.tiny_models import build_tiny_model
    from training.engines.base import GenerationRequest, SamplingParams
    from training.engines.vllm import VLLMEngine
    from training.models.policy import load_policy, token_logprobs

    path = work / f"small_{family}"
    if not (path / "config.json").exists():
        build_tiny_model(family, path, seed=0, size="small")
    rss0, t0 = rss_gb(), time.perf_counter()
    engine = VLLMEngine(path, dtype=dtype, enforce_eager=True, max_model_len=4096)
    start_s, engine_gb = time.perf_counter() - t0, rss_gb() - rss0
    model, proc = load_policy(path)
    model.eval()
    media = cases(cached_media(work / f"media_{family}", proc.video.factor))
    requests = [GenerationRequest(name, "What happens in this clip?", items) for name, items in media.items()]
    outs = engine.generate(requests, SamplingParams(n=4, temperature=1.0, max_new_tokens=16, seed=0))
    gaps = {}
    for req, group in zip(requests, outs):
        enc = proc.encode(req.prompt, req.media)
        values = []
        for c in group:
            with torch.no_grad():
                logp, _ = token_logprobs(model, [enc], [c.token_ids], proc.tokenizer.pad_token_id, proc.family)
            engine_logp = torch.tensor(c.logprobs, dtype=torch.float64)
            values.append((logp[0, : len(c.token_ids)].double() - engine_logp).abs())
        gap = torch.cat(values)
        gaps[req.request_id] = {"max": float(gap.max()), "mean": float(gap.mean()), "tokens": int(gap.numel())}
    engine.close()
    return {"engine_start_s": round(start_s, 2), "engine_rss_gb": round(engine_gb, 2), "gaps": gaps}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dtype", default="float32", help="vLLM's weights (the trainer stays float32)")
    ap.add_argument("--workdir", default=".reelrl/bench_vllm")
    ap.add_argument("--out", default=str(Path(__file__).parent / "vllm_results" / "logprob_gap.json"))
    ap.add_argument("--families", default=",".join(FAMILIES))
    args = ap.parse_args()
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    work = Path(args.workdir)
    doc = {"dtype": args.dtype, "families": {}}
    for family in args.families.split(","):
        doc["families"][family] = result = measure(family, work, args.dtype)
        print(f"{family}: engine start {result['engine_start_s']} s, +{result['engine_rss_gb']} GB resident")
        for case, g in result["gaps"].items():
            print(f"  {case:12s} max {g['max']:.2e}  mean {g['mean']:.2e}  ({g['tokens']} tokens)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
