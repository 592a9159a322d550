"""Run state for exact resume (training.outputs.checkpoint) with a real tiny Qwen2-VL, AdamW and LR scheduler.

What must hold: a resumed run continues the same trajectory bit for bit (weights, optimizer, scheduler,
every RNG, data position); checkpoints load with plain transformers; retention keeps exactly K; and a
save killed at any point (simulated, and a real SIGKILL of a saving subprocess) never leaves a half
checkpoint that resume would pick.
"""

from __future__ import annotations

import math
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from training.loop.schedule import make_scheduler
from training.models.policy import load_policy
from training.outputs.checkpoint import (
    STATE_FILE,
    TRACKER_FILE,
    CheckpointError,
    Progress,
    find_resume,
    list_checkpoints,
    load_state,
    read_progress,
    read_tracker,
    save_state,
    step_dir,
)

REPO = Path(__file__).resolve().parents[1]
FIRST_TEXT_ID = 7  # ids 0..6 are the Qwen special tokens of the tiny tokenizer (vision pads among them)


@pytest.fixture(scope="module")
def base_model(tmp_path_factory) -> Path:
    from demo_kit.tiny_models import build_tiny_model

    return build_tiny_model("qwen2_vl", tmp_path_factory.mktemp("ckpt_model") / "qwen2_vl", seed=0)


def fresh_run(path: Path, seed: int):
    """A model loaded from ``path``, its AdamW and a warmup+cosine schedule, and a numpy Generator."""
    model, processor = load_policy(path)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
    scheduler = make_scheduler(optimizer, total_steps=6, warmup_ratio=0.34, kind="cosine", min_lr_ratio=0.1)
    return model, processor, optimizer, scheduler, np.random.default_rng(seed)


def train(model, optimizer, scheduler, gen, steps: int) -> list[tuple]:
    """``steps`` updates on random token batches; returns what each step drew from every RNG and its lr.

    The batch comes from torch's RNG and the lr from the scheduler, so a resume that restored either
    wrongly would move the weights, not only the recorded draws.
    """
    draws = []
    for _ in range(steps):
        ids = torch.randint(FIRST_TEXT_ID, 200, (2, 12))
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        draws.append((optimizer.param_groups[0]["lr"], random.random(), np.random.rand(), gen.random()))
        scheduler.step()
    return draws


def params(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def test_resume_continues_the_same_trajectory_bit_for_bit(base_model, tmp_path):
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    model, processor, optimizer, scheduler, gen = fresh_run(base_model, seed=5)
    train(model, optimizer, scheduler, gen, 2)
    ckpt = save_state(
        tmp_path, 2, model, processor, optimizer, scheduler,
        batches_drawn=2, extra={"note": "warm"}, np_generator=gen,
    )  # fmt: skip
    expected_draws = train(model, optimizer, scheduler, gen, 2)
    expected = params(model)

    # fresh objects from the *initial* weights, every RNG moved elsewhere: only the checkpoint can align them
    torch.manual_seed(99)
    random.seed(99)
    np.random.seed(99)
    model2, _, optimizer2, scheduler2, gen2 = fresh_run(base_model, seed=77)
    assert find_resume(tmp_path) == ckpt
    info = load_state(ckpt, model2, optimizer2, scheduler2, np_generator=gen2)
    assert info == {"global_step": 2, "batches_drawn": 2, "extra": {"note": "warm"}}
    assert train(model2, optimizer2, scheduler2, gen2, 2) == expected_draws
    got = params(model2)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert torch.equal(got[name], value), name
    # the lr did change across the resumed steps (warmup then cosine), so the scheduler state mattered
    assert len({d[0] for d in expected_draws}) == 2


def test_checkpoint_is_a_plain_hugging_face_checkpoint(base_model, tmp_path):
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    model, processor, optimizer, scheduler, _ = fresh_run(base_model, seed=0)
    train(model, optimizer, scheduler, np.random.default_rng(0), 1)
    ckpt = save_state(tmp_path, 1, model, processor, optimizer, scheduler)
    assert ckpt == step_dir(tmp_path, 1) and (ckpt / "model.safetensors").is_file()
    assert (tmp_path / TRACKER_FILE).read_text().strip() == "1"
    plain = AutoModelForImageTextToText.from_pretrained(str(ckpt), dtype=torch.float32)
    theirs, ours = plain.state_dict(), model.state_dict()
    assert theirs.keys() == ours.keys()
    assert all(torch.equal(theirs[k], ours[k]) for k in ours)
    assert AutoTokenizer.from_pretrained(str(ckpt)).get_vocab() == processor.tokenizer.get_vocab()
    for name in ("preprocessor_config.json", "video_preprocessor_config.json"):
        assert (ckpt / name).read_text() == (base_model / name).read_text()


def test_retention_keeps_exactly_the_newest_k(base_model, tmp_path):
    model, processor, optimizer, _, _ = fresh_run(base_model, seed=0)
    for step in range(1, 6):
        save_state(tmp_path / "k2", step, model, processor, optimizer, save_limit=2)
        save_state(tmp_path / "all", step, model, processor, optimizer, save_limit=-1)
    assert [s for s, _ in list_checkpoints(tmp_path / "k2")] == [4, 5]
    assert sorted(p.name for p in (tmp_path / "k2").iterdir()) == [
        "global_step_4",
        "global_step_5",
        TRACKER_FILE,
    ]
    assert [s for s, _ in list_checkpoints(tmp_path / "all")] == [1, 2, 3, 4, 5]
    # the checkpoint just written survives even when older-numbered than what is kept
    save_state(tmp_path / "k2", 3, model, processor, optimizer, save_limit=1)
    assert [s for s, _ in list_checkpoints(tmp_path / "k2")] == [3]


def test_simulated_crashes_resume_from_the_newest_complete_checkpoint(base_model, tmp_path):
    model, processor, optimizer, _, _ = fresh_run(base_model, seed=0)
    assert find_resume(tmp_path) is None
    for step in (1, 2):
        save_state(tmp_path, step, model, processor, optimizer, batches_drawn=step)
    # a save killed midway: its temp dir holds some files but is never a candidate
    partial = tmp_path / f"{step_dir(tmp_path, 3).name}.tmp-12345"
    partial.mkdir()
    (partial / "config.json").write_text("{}")
    # a final-named directory without trainer state (copied by hand, say) is not complete either
    (tmp_path / "global_step_9").mkdir()
    (tmp_path / "global_step_9" / "config.json").write_text("{}")
    # tracker names a directory that does not exist
    (tmp_path / TRACKER_FILE).write_text("7\n")
    assert find_resume(tmp_path) == step_dir(tmp_path, 2)

    # a kill between the directory rename and the tracker update: the tracker lags one step behind
    (tmp_path / TRACKER_FILE).write_text("1\n")
    assert find_resume(tmp_path) == step_dir(tmp_path, 2)

    model2, _, optimizer2, _, _ = fresh_run(base_model, seed=0)
    assert load_state(find_resume(tmp_path), model2, optimizer2)["batches_drawn"] == 2
    save_state(tmp_path, 3, model2, processor, optimizer2)
    assert not partial.exists(), "the next save cleans stale temp dirs"
    assert read_tracker(tmp_path) == 3 and find_resume(tmp_path) == step_dir(tmp_path, 3)


def test_a_checkpoint_with_the_old_data_position_key_resumes_at_its_position(base_model, tmp_path):
    """Checkpoints written before the data position was named ``batches_drawn`` saved it as
    ``data_position: {"batches_consumed": k}``; both readers (the trainers' ``load_state`` and the Ray Train
    driver's ``read_progress``) still find k."""
    model, processor, optimizer, _, _ = fresh_run(base_model, seed=0)
    ckpt = save_state(tmp_path, 3, model, processor, optimizer, batches_drawn=5)
    assert read_progress(ckpt) == Progress(global_step=3, batches_drawn=5)
    state = torch.load(ckpt / STATE_FILE, weights_only=True)
    assert state["data_position"] == {"batches_drawn": 5}
    state["data_position"] = {"batches_consumed": 7}  # what the trainers wrote before
    torch.save(state, ckpt / STATE_FILE)
    assert read_progress(ckpt) == Progress(global_step=3, batches_drawn=7)
    assert load_state(ckpt, model, optimizer)["batches_drawn"] == 7
    state["data_position"] = {}  # a foreign trainer that kept no position starts its data at 0
    torch.save(state, ckpt / STATE_FILE)
    assert read_progress(ckpt).batches_drawn == 0


def test_broken_checkpoints_fail_with_the_path_named(base_model, tmp_path):
    model, processor, optimizer, scheduler, _ = fresh_run(base_model, seed=0)
    with pytest.raises(ValueError, match=r"batches_drawn \(the data position\) must be an int >= 0"):
        save_state(tmp_path, 1, model, processor, optimizer, scheduler, batches_drawn=-1)
    assert not tmp_path.joinpath("global_step_1").exists()
    ckpt = save_state(tmp_path, 1, model, processor, optimizer, scheduler)
    with pytest.raises(CheckpointError, match="scheduler state is present"):
        load_state(ckpt, model, optimizer)
    with pytest.raises(CheckpointError, match="saved no numpy Generator"):
        load_state(ckpt, model, optimizer, scheduler, np_generator=np.random.default_rng(0))
    with pytest.raises(CheckpointError, match="does not exist"):
        load_state(tmp_path / "global_step_8", model, optimizer)

    state = ckpt / STATE_FILE
    state.write_bytes(state.read_bytes()[:100])  # truncated
    with pytest.raises(CheckpointError, match=f"cannot read {re.escape(str(state))}"):
        load_state(ckpt, model, optimizer, scheduler)
    state.unlink()
    with pytest.raises(
        CheckpointError, match=rf"checkpoint {re.escape(str(ckpt))} is incomplete.*{STATE_FILE}"
    ):
        load_state(ckpt, model, optimizer, scheduler)
    assert find_resume(tmp_path) is None


def test_schedules_match_easyr1_formulas():
    lrs = {}
    for kind, kwargs in {
        "constant": {"warmup_ratio": 0.2},
        "cosine": {"warmup_steps": 2, "min_lr_ratio": 0.1},
        "cosine_no_floor": {},
    }.items():
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
        scheduler = make_scheduler(optimizer, 10, kind=kind.removesuffix("_no_floor"), **kwargs)
        lrs[kind] = []
        for _ in range(13):
            lrs[kind].append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
    # int(0.2 * 10) = 2 warmup steps from 0, then flat
    assert lrs["constant"] == [0.0, 1.0] + [2.0] * 11
    # warmup 0, 0.5 of lr; cosine from 1 at step 2 to the 0.1 floor at step 10, held after
    assert lrs["cosine"][:3] == [0.0, 1.0, 2.0]
    assert lrs["cosine"][6] == pytest.approx(2.0 * (0.1 + 0.9 * 0.5), rel=1e-12)  # halfway: cos = 0
    assert lrs["cosine"][4] == pytest.approx(2.0 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4))), rel=1e-12)
    assert lrs["cosine"][10:] == pytest.approx([0.2] * 3, rel=1e-12)
    assert lrs["cosine_no_floor"][0] == 2.0 and lrs["cosine_no_floor"][5] == pytest.approx(1.0, rel=1e-12)
    assert lrs["cosine_no_floor"][10] == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(ValueError, match="constant.*cosine"):
        make_scheduler(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), 10, kind="linear")


# The child: resume from the root if it can, then save step after step until killed. Every parameter holds
# the step number, so a checkpoint whose weights and trainer state came from different steps is caught.
# A fresh interpreter, not a fork: torch's thread pools do not survive fork after the tests above used them.
CHILD = """
import sys, torch
from training.outputs.checkpoint import find_resume, load_state, save_state
from training.models.policy import load_policy

model, processor = load_policy(sys.argv[1])
optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
root, step = sys.argv[2], 0
if (ckpt := find_resume(root)) is not None:
    step = load_state(ckpt, model, optimizer)["global_step"]
while True:
    step += 1
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float(step))
    save_state(root, step, model, processor, optimizer, batches_drawn=step, save_limit=2)
"""


def _temp_entries(root: Path) -> list[str]:
    return [e.name for e in os.scandir(root) if ".tmp-" in e.name] if root.is_dir() else []


def test_sigkill_during_a_save_leaves_a_resumable_root(base_model, tmp_path):
    """SIGKILL a saving process the moment a save's temp entry appears; the root must still resume to a
    complete checkpoint whose weights match its step. If the kill misses the window, a new child resumes
    from the root and is killed again."""
    root = tmp_path / "ckpts"
    env = dict(os.environ, PYTHONPATH=str(REPO), TOKENIZERS_PARALLELISM="false")
    landed_mid_save = False
    for attempt in range(3):
        err_log = tmp_path / f"child{attempt}.err"
        with open(err_log, "w") as err:
            child = subprocess.Popen(
                [sys.executable, "-c", CHILD, str(base_model), str(root)], env=env, stderr=err
            )
        start_step = read_tracker(root) or 0
        deadline = time.monotonic() + 90
        try:
            while (read_tracker(root) or 0) < start_step + 2:  # two complete saves in this life
                assert child.poll() is None, err_log.read_text()
                assert time.monotonic() < deadline, "child made no progress"
                time.sleep(0.002)
            while not _temp_entries(root):
                assert time.monotonic() < deadline, "no save observed in flight"
        finally:
            child.kill()  # SIGKILL
            child.wait()
        assert child.returncode == -signal.SIGKILL
        landed_mid_save = bool(_temp_entries(root))
        if landed_mid_save:
            break
    assert landed_mid_save, "the kill never landed inside a save"

    ckpt = find_resume(root)
    assert ckpt is not None and ckpt.name.startswith("global_step_") and ".tmp-" not in ckpt.name
    model, _ = load_policy(base_model)
    info = load_state(ckpt, model, torch.optim.SGD(model.parameters(), lr=0.0))
    step = info["global_step"]
    assert ckpt == step_dir(root, step) and info["batches_drawn"] == step
    assert all(bool((p == float(step)).all()) for p in model.parameters())
