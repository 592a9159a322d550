"""FSDP2 in the trainer (``worker.actor.strategy=fsdp2``) on two gloo ranks, against ``replicate``.

One pair of spawned processes runs every scenario (each process start costs seconds): the same update on
both strategies gives the same weights, also when the ranks hold different micro-batch counts, video and
text-only rows, or when one rank has nothing to train on; an FSDP2 checkpoint is a plain Hugging Face
checkpoint and resumes bit for bit; whole RL steps generate on each rank's own synced copy of the weights.
"""

from __future__ import annotations

import socket
import traceback
from pathlib import Path

import pytest
import torch
from train_items import video_item

from training.config import ConfigError, load_config
from training.data.items import TrainItem
from training.engines.base import Completion
from training.loop.rollout import Rollout

YES, NO = "<answer>yes</answer>", "<answer>no</answer>"
MOE = ("qwen3_5_moe", "qwen3_vl_moe")


def _trainer(path: str, out: Path, rank: int, strategy: str, *extra: str):
    from training.loop.trainer import RLTrainer

    cfg = load_config(
        overrides=[
            f"model_path={path}", "worker.rollout.n=2", "worker.rollout.max_new_tokens=4",
            "worker.actor.lr=1e-2", "worker.actor.micro_batch_size=1",
            "worker.actor.max_grad_norm=0.5", "data.rollout_batch_size=2", "trainer.logger=[jsonl]",
            f"worker.actor.strategy={strategy}", *extra,
        ]
    )  # fmt: skip
    return RLTrainer(cfg, path, out, rank=rank, world_size=2).setup()


def _experience(trainer, rank: int, idle: bool = False):
    """Rank 0: two video prompts (4 rows); rank 1: one text-only prompt (2 rows), or nothing."""
    from training.loop.update import Experience

    tok = trainer.processor.tokenizer
    if idle:
        return Experience([], [])
    if rank == 0:
        items = [
            video_item("a", trainer.processor.video.factor),
            video_item("b", trainer.processor.video.factor),
        ]
        groups = [[YES, NO], [NO, "<answer>yes"]]
    else:
        items = [TrainItem("c", "Is two more than one?", "boolean", "text", "yes")]
        groups = [[NO, YES]]
    rollouts = []
    for i, texts in enumerate(groups):
        for text in texts:
            ids = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            score = 1.0 if text == YES else 0.0
            rollouts.append(
                Rollout(
                    i, Completion(text, ids, "stop"), {"overall": score, "accuracy": score, "format": 1.0}
                )
            )
    return Experience(items, rollouts)


def _same(a: dict, b: dict) -> float:
    """Largest absolute difference between two state dicts with the same keys."""
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def _beyond_adam(w_a: dict, w_b: dict, g_a: dict, g_b: dict, lr: float, eps: float = 1e-8) -> float:
    """Largest weight difference after one AdamW step beyond what that step makes of the two (clipped)
    gradients' own difference: the first step moves each weight by lr·g/(|g|+eps), so an element whose
    gradient is near eps turns a 1e-10 gradient difference into a visible step difference."""

    def step(g: torch.Tensor) -> torch.Tensor:
        return g.float() / (g.float().abs() + eps)

    worst = 0.0
    for k, grad_a in g_a.items():
        if grad_a is None:
            continue
        allowed = lr * (step(grad_a) - step(g_b[k])).abs()
        worst = max(worst, float(((w_a[k].float() - w_b[k].float()).abs() - allowed).max()))
    return worst


def _plain(ckpt: Path) -> dict:
    """The checkpoint as plain transformers loads it (no ReelRL code on the way)."""
    from transformers import AutoModelForImageTextToText

    return AutoModelForImageTextToText.from_pretrained(str(ckpt)).state_dict()


def _expert_shards(model) -> dict[str, tuple]:
    """Per routed-expert parameter of a sharded model: (this rank's shape, the whole shape, placements)."""
    return {
        n: (tuple(p.to_local().shape), tuple(p.shape), str(p.placements))
        for n, p in model.named_parameters()
        if ".experts." in n
    }


def _scenarios(rank: int, path: str, out: Path) -> dict:
    from training.models.policy import load_policy
    from training.parallel.fsdp import full_state, is_sharded

    result: dict = {}
    base = {k: v.clone() for k, v in load_policy(path)[0].state_dict().items()}
    for case, idle in (("uneven", False), ("idle_rank", True)):
        rep = _trainer(path, out / f"{case}_rep", rank, "replicate")
        fsdp = _trainer(path, out / f"{case}_fsdp", rank, "fsdp2")
        result["sharded"] = is_sharded(fsdp.model) and not is_sharded(rep.model)
        result["expert_shards"] = _expert_shards(fsdp.model)
        m_rep = rep.updater.update(_experience(rep, rank, idle=idle and rank == 1))
        m_fsdp = fsdp.updater.update(_experience(fsdp, rank, idle=idle and rank == 1))
        grads_rep = {n: p.grad for n, p in rep.model.named_parameters()}
        grads_fsdp = {n: p.grad.full_tensor() for n, p in fsdp.model.named_parameters()}
        result[case] = {
            "grad_diff": _same(grads_fsdp, grads_rep) / max(float(g.abs().max()) for g in grads_rep.values()),
            "max_diff": _same(full_state(fsdp.model), rep.model.state_dict()),
            "beyond_adam": _beyond_adam(
                full_state(fsdp.model), rep.model.state_dict(), grads_fsdp, grads_rep, 1e-2
            ),
            "moved": _same(rep.model.state_dict(), base),
            "grad_norm": (m_rep["actor/grad_norm"], m_fsdp["actor/grad_norm"]),
        }
    # checkpoint after one update, a second update; a fresh FSDP2 trainer resumed there does the same
    fsdp.global_step = 1
    ckpt = fsdp.save_state()
    after_one = full_state(fsdp.model)
    fsdp.updater.update(_experience(fsdp, rank))
    straight = full_state(fsdp.model)
    again = _trainer(path, out / "idle_rank_fsdp", rank, "fsdp2")
    again.resume_from(ckpt)
    result["resumed_step"] = again.global_step
    result["resumed_equal_before"] = _same(full_state(again.model), after_one)
    again.updater.update(_experience(again, rank))
    result["resumed_equal_after"] = _same(full_state(again.model), straight)
    if rank == 0:  # plain transformers reads the checkpoint: the gathered weights, whole
        result["checkpoint_plain"] = _same(_plain(ckpt), after_one)
    # two whole RL steps: each rank generates on its own copy, synced from the shards before each step
    # (vision tower frozen: trainable and frozen parameters share the root unit)
    run = _trainer(
        path, out / "run", rank, "fsdp2", "trainer.save_freq=1", "worker.actor.ppo_epochs=2",
        "worker.actor.freeze_vision_tower=true", "worker.actor.lr=1e-1",
    )  # fmt: skip
    fac = run.processor.video.factor
    batches = [
        [video_item(f"r{rank}", fac)],
        [TrainItem(f"t{rank}", "Is two more than one?", "boolean", "text", "yes")],
    ]
    res = run.train(batches, steps=2)
    step1 = load_policy(out / "run" / "checkpoints" / "global_step_1")[0].state_dict()
    step2 = load_policy(out / "run" / "checkpoints" / "global_step_2")[0].state_dict()
    visual = [k for k in base if ".visual." in k or k.startswith("visual.")]
    result["vision_moved"] = _same({k: step2[k] for k in visual}, {k: base[k] for k in visual})
    result["language_moved"] = _same(
        {k: step2[k] for k in base if k not in visual}, {k: base[k] for k in base if k not in visual}
    )
    result["run_steps"] = res.steps
    result["engine_is_copy"] = run.engine.model is not run.model
    result["engine_holds_step1"] = _same(run.engine.model.state_dict(), step1)
    result["engine_moved"] = _same(run.engine.model.state_dict(), base)
    return result


def _rank(rank: int, port: int, path: str, out: str, queue) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        queue.put((rank, _scenarios(rank, path, Path(out))))
    except BaseException:
        queue.put((rank, traceback.format_exc()))
        raise
    finally:
        dist.destroy_process_group()


SLOW = pytest.mark.slow  # ~1.5 min a family on 2 cores; qwen2_5_vl stays in the default suite
FSDP_FAMILIES = [
    "qwen2_5_vl",
    pytest.param("qwen2_vl", marks=SLOW),
    pytest.param("qwen3_vl", marks=SLOW),
    pytest.param("qwen3_5", marks=SLOW),
    pytest.param("qwen3_5_moe", marks=SLOW),
    pytest.param("qwen3_vl_moe", marks=SLOW),
]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("family", FSDP_FAMILIES)
def test_fsdp2_matches_replicate_resumes_exactly_and_trains_on_synced_copies(tiny_models, tmp_path, family):
    results = _spawn_pair(_rank, (tiny_models[family], str(tmp_path)))
    r0 = results[0]
    assert r0["sharded"]
    _assert_experts_split_over_the_ranks(results, family)
    for case in ("uneven", "idle_rank"):  # same step as replicate (float sums in another order)
        assert r0[case]["moved"] > 1e-3, case
        assert r0[case]["grad_diff"] < 1e-5, (case, r0[case])  # relative to the largest gradient
        # Adam's first step is about lr·sign(g): only gradients near its eps can differ visibly, and by
        # no more than that step makes of their difference
        assert r0[case]["beyond_adam"] < 1e-3 * r0[case]["moved"], (case, r0[case])
        rep_norm, fsdp_norm = r0[case]["grad_norm"]
        assert fsdp_norm == pytest.approx(rep_norm, rel=1e-5)
    assert r0["resumed_step"] == 1 and r0["resumed_equal_before"] == 0.0
    assert r0["resumed_equal_after"] == 0.0  # optimizer state restored shard by shard, exactly
    assert r0["checkpoint_plain"] == 0.0
    for res in results.values():
        assert res["run_steps"] == 2 and res["engine_is_copy"]
        assert res["engine_holds_step1"] == 0.0 and res["engine_moved"] > 0
    assert r0["vision_moved"] == 0.0 and r0["language_moved"] > 0
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("global_step_*")) == [
        "global_step_1", "global_step_2",
    ]  # fmt: skip


def _assert_experts_split_over_the_ranks(results: dict, family: str) -> None:
    """The routed experts' 3D weights (experts first) are sharded on dim 0: each of the 2 ranks holds 2 of
    the 4 experts whole, and together they hold every expert. Dense families have none."""
    shards = [results[r]["expert_shards"] for r in (0, 1)]
    if family not in MOE:
        assert shards == [{}, {}]
        return
    assert shards[0].keys() == shards[1].keys() and len(shards[0]) == 2 * 2  # 2 layers x gate_up, down
    for name, (local, whole, placements) in shards[0].items():
        assert whole[0] == 4 and local == (2, *whole[1:]), name
        assert shards[1][name] == (local, whole, placements) and placements == "(Shard(dim=0),)", name


def _spawn_pair(target, args: tuple) -> dict:
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=target, args=(r, port, *args, queue)) for r in (0, 1)]
    for p in procs:
        p.start()
    results = dict(queue.get(timeout=540) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        if p.is_alive():
            p.kill()
    for rank, res in results.items():
        assert isinstance(res, dict), f"rank {rank} failed:\n{res}"
    return results


def _moe_scenario(rank: int, path: str, out: Path) -> dict:
    """One update of a MoE model under FSDP2 and under replicate; the FSDP2 checkpoint read back."""
    from training.parallel.fsdp import full_state

    rep = _trainer(path, out / "rep", rank, "replicate")
    fsdp = _trainer(path, out / "fsdp", rank, "fsdp2")
    shards = _expert_shards(fsdp.model)
    rep.updater.update(_experience(rep, rank))
    fsdp.updater.update(_experience(fsdp, rank))
    experts = [n for n, _ in rep.model.named_parameters() if ".experts." in n]
    g_rep = {n: p.grad for n, p in rep.model.named_parameters() if n in experts}
    g_fsdp = {n: p.grad.full_tensor() for n, p in fsdp.model.named_parameters() if n in experts}
    fsdp.global_step = 1
    ckpt = fsdp.save_state()
    whole = full_state(fsdp.model)
    result = {
        "expert_shards": shards,
        "expert_grad_diff": _same(g_fsdp, g_rep) / max(float(g.abs().max()) for g in g_rep.values()),
        "experts_moved": min(
            float((whole[n] - p).abs().max()) for n, p in _plain(path).items() if n in experts
        ),
        "beyond_adam": _beyond_adam(
            {n: whole[n] for n in experts},
            {n: rep.model.state_dict()[n] for n in experts},
            g_fsdp,
            g_rep,
            1e-2,
        ),
    }
    if rank == 0:
        plain = _plain(ckpt)
        result["checkpoint_plain"] = _same(plain, whole)
        result["checkpoint_experts"] = sorted(n for n in plain if ".experts." in n)
    return result


def _moe_rank(rank: int, port: int, paths: dict, out: str, queue) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        queue.put((rank, {f: _moe_scenario(rank, p, Path(out) / f) for f, p in paths.items()}))
    except BaseException:
        queue.put((rank, traceback.format_exc()))
        raise
    finally:
        dist.destroy_process_group()


@pytest.mark.timeout(600)
def test_fsdp2_shards_the_routed_experts_and_saves_them_whole(tiny_models, tmp_path):
    """Both MoE families on one pair of gloo ranks: each rank holds half of every expert weight, the
    experts' gradients are replicate's (summed over ranks), and plain transformers reads the FSDP2
    checkpoint back with every expert as trained."""
    results = _spawn_pair(_moe_rank, ({f: tiny_models[f] for f in MOE}, str(tmp_path)))
    for family in MOE:
        per_rank = {r: results[r][family] for r in (0, 1)}
        _assert_experts_split_over_the_ranks(per_rank, family)
        r0 = per_rank[0]
        assert r0["expert_grad_diff"] < 1e-5, r0["expert_grad_diff"]
        assert r0["experts_moved"] > 0  # every expert weight tensor moved (the batch routes to each layer)
        assert r0["beyond_adam"] < 1e-3 * r0["experts_moved"]  # replicate's step, up to Adam near eps
        assert r0["checkpoint_plain"] == 0.0
        assert r0["checkpoint_experts"] == sorted(r0["expert_shards"])


def test_strategy_and_device_are_checked_at_load():
    with pytest.raises(ConfigError, match=r"worker.actor.strategy='ddp'; allowed: \('replicate', 'fsdp2'\)"):
        load_config(overrides=["worker.actor.strategy=ddp"])
    with pytest.raises(ConfigError, match="fsdp2 does not support LoRA"):
        load_config(overrides=["worker.actor.strategy=fsdp2", "worker.actor.lora_rank=8"])
    with pytest.raises(ConfigError, match=r"trainer.device='tpu'; allowed: \('auto', 'cpu', 'cuda'\)"):
        load_config(overrides=["trainer.device=tpu"])


NO_CUDA = "trainer.device=cuda but torch sees no CUDA GPU"


@pytest.mark.parametrize("cuda", [False, True])
def test_device_cuda_is_checked_against_torch(monkeypatch, cuda):
    # Both answers on every machine: torch.cuda.is_available() is what the check asks.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    if cuda:
        assert load_config(overrides=["trainer.device=cuda"]).trainer.device == "cuda"
    else:
        with pytest.raises(ConfigError, match=NO_CUDA):
            load_config(overrides=["trainer.device=cuda"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="torch sees a CUDA GPU here")
def test_device_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(ConfigError, match=NO_CUDA):
        load_config(overrides=["trainer.device=cuda"])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_device_cuda_loads_with_a_gpu():
    assert load_config(overrides=["trainer.device=cuda"]).trainer.device == "cuda"
