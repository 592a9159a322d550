"""Supervised warm start (Video-R1's cold start) on the same data path as RL.

The target of a sample is its reasoning (``process``, a ``<think>…</think>`` text, when the dataset has
one) followed by ``<answer>…</answer>`` and the model's EOS, so the policy learns the answer format
before RL. Batches are the same ``TrainItem``s streamed from the Lance cache by Ray Data.

Resumable like the RL trainer: with ``save_freq`` > 0 it writes ``save_dir/checkpoints/global_step_N`` (HF
weights + optimizer, RNG, data position) every ``save_freq`` steps, and a run started again in the same
``save_dir`` continues from the newest complete one, on the same data order when ``batches`` is a function
of the data position.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from training.data.items import TrainItem
from training.loop.trainer import RunResult
from training.models.policy import load_policy, token_logprobs
from training.outputs.checkpoint import checkpoint_root, find_resume, load_state, save_checkpoint, save_state
from training.outputs.sinks import read_metrics


def sft_target(item: TrainItem) -> str:
    think = str(item.extra.get("process") or "").strip()
    return f"{think}<answer>{item.answer}</answer>"


def run_sft(
    model_path: str | Path,
    batches: Iterable[list[TrainItem]] | Callable[[int], Iterable[list[TrainItem]]],
    steps: int,
    save_dir: str | Path,
    lr: float = 3e-3,
    seed: int = 1,
    template_path: str | None = None,
    on_metrics: Callable[[dict], None] | None = None,
    save_freq: int = 0,
    save_limit: int = 2,
) -> RunResult:
    """``steps`` AdamW steps of token-mean cross-entropy on response tokens; saves ``save_dir/checkpoint``.

    ``batches``: an iterable of batches, or a function of the data position (batches already used)
    returning the stream from there, so a resumed run sees the batches the killed one would have seen."""
    if save_freq < 0:
        raise ValueError(f"save_freq must be >= 0 (0: no intermediate checkpoints), got {save_freq}")
    torch.manual_seed(seed)
    model, proc = load_policy(model_path)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    save_dir = Path(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    metrics_file, root = save_dir / "metrics.jsonl", checkpoint_root(save_dir)
    step, history = _resume(root, model, opt, metrics_file)
    it = iter(batches(step) if callable(batches) else batches)  # one batch per step: batches_drawn == step
    while step < steps:
        t0 = time.perf_counter()
        try:
            items = next(it)
        except StopIteration:
            break
        wait = time.perf_counter() - t0
        loss, grad_norm = _sft_step(model, proc, opt, items, template_path)
        step += 1
        metrics = {
            "step": step,
            "sft/loss": loss,
            "sft/grad_norm": grad_norm,
            "timing_s/data_wait": wait,  # the RL trainer's names (training.loop.timing)
            "timing_s/step": time.perf_counter() - t0,
        }
        history.append(metrics)
        with open(save_dir / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(metrics) + "\n")
        if on_metrics:
            on_metrics(metrics)
        if save_freq and step % save_freq == 0:
            save_state(root, step, model, proc, opt, batches_drawn=step, save_limit=save_limit)
    ckpt = save_checkpoint(model, proc, save_dir / "checkpoint")
    return RunResult(checkpoint=str(ckpt), steps=step, history=history)


def _resume(root: Path, model, opt: torch.optim.Optimizer, metrics_file: Path) -> tuple[int, list[dict]]:
    """The step to continue from (0 for a fresh run) and the metrics logged up to it."""
    resume = find_resume(root)
    if resume is None:
        if metrics_file.exists():  # a fresh run in a used folder: its metrics start over
            metrics_file.unlink()
        return 0, []
    step = int(load_state(resume, model, opt)["global_step"])
    history = []
    if metrics_file.exists():
        history = [m for m in read_metrics(metrics_file) if m.get("step", 0) <= step]
    return step, history


def _sft_step(
    model, proc, opt: torch.optim.Optimizer, items: list[TrainItem], template_path
) -> tuple[float, float]:
    """One AdamW step of token-mean cross-entropy on the response tokens; returns (loss, grad norm)."""
    prompts = [proc.encode(x.prompt(template_path), x.media, sample_id=x.sample_id) for x in items]
    targets = [
        proc.tokenizer(sft_target(x), add_special_tokens=False)["input_ids"] + [proc.eos_id] for x in items
    ]
    logp, mask = token_logprobs(model, prompts, targets, proc.tokenizer.pad_token_id, proc.family)
    loss = -(logp * mask).sum() / mask.sum().clamp(min=1)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item(), float(grad_norm)
