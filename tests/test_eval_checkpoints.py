"""evaluation.checkpoint_discovery: discovery, completeness checks, names and NaN/inf census on real files."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import struct
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from evaluation.checkpoint_discovery import (
    CheckpointInfo,
    checkpoint_name,
    discover_checkpoints,
    find_checkpoint,
    inspect_checkpoint,
)
from evaluation.manifest import model_revision
from evaluation.weights import weights_report
from training.outputs.checkpoint import step_dir

OLD = time.time() - 3600  # well outside any settle window
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _tensors() -> dict[str, torch.Tensor]:
    return {"embed.weight": torch.ones(4, 3), "lm_head.bias": torch.zeros(5)}


def _age(folder: Path, mtime: float = OLD) -> None:
    for f in folder.iterdir():
        os.utime(f, (mtime, mtime))


def make_ckpt(
    folder: Path, tensors: dict[str, torch.Tensor] | None = None, model_type: str = "qwen2", mtime=OLD
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": model_type, "hidden_size": 3}))
    save_file(tensors or _tensors(), str(folder / "model.safetensors"))
    if mtime is not None:
        _age(folder, mtime)
    return folder


def _hash(path: Path) -> str:
    return hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:6]


def _skip_reason(skipped: list[tuple[str, str]], folder: Path) -> str:
    reasons = dict(skipped)
    assert str(folder) in reasons, skipped
    return reasons[str(folder)]


# ---- discovery of complete checkpoints ------------------------------------------------------------
def test_reelrl_step_dir_found_with_all_fields(tmp_path):
    root = tmp_path / "runs"
    ckpt = make_ckpt(step_dir(root / "exp1", 60))
    torch.save({"global_step": 60}, ckpt / "trainer_state.pt")
    (root / "exp1" / "latest_checkpointed_iteration.txt").write_text("60")
    _age(ckpt)

    found, skipped = discover_checkpoints([root])

    assert skipped == []
    assert found == [
        CheckpointInfo(
            name=f"exp1-step60-{_hash(ckpt)}",
            path=str(ckpt),
            revision=model_revision(ckpt),
            model_type="qwen2",
            step=60,
            mtime=max((ckpt / n).stat().st_mtime for n in ("config.json", "model.safetensors")),
        )
    ]
    assert inspect_checkpoint(ckpt, root=root) == found[0]


def test_found_sorted_by_mtime_then_name_and_not_descended(tmp_path):
    a = make_ckpt(tmp_path / "b_ckpt", mtime=OLD)
    b = make_ckpt(tmp_path / "a_ckpt", mtime=OLD + 5)
    c = make_ckpt(tmp_path / "c_ckpt", mtime=OLD)
    make_ckpt(a / "nested_ckpt")  # inside a candidate: never visited

    found, skipped = discover_checkpoints(tmp_path)

    assert [f.path for f in found] == [str(a), str(c), str(b)]
    assert skipped == []
    assert [f.step for f in found] == [None, None, None]


def test_sharded_checkpoint_found(tmp_path):
    ckpt = tmp_path / "sharded"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
    save_file({"a": torch.ones(2)}, str(ckpt / "model-00001-of-00002.safetensors"))
    save_file({"b": torch.ones(3)}, str(ckpt / "model-00002-of-00002.safetensors"))
    index = {
        "metadata": {"total_size": 20},
        "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"},
    }
    (ckpt / "model.safetensors.index.json").write_text(json.dumps(index))
    _age(ckpt)

    found, skipped = discover_checkpoints([tmp_path])

    assert skipped == []
    assert [(f.path, f.model_type) for f in found] == [(str(ckpt), "qwen2_5_vl")]
    assert weights_report(ckpt)["parameters"] == 5


def test_pytorch_model_bin_accepted(tmp_path):
    ckpt = tmp_path / "bin_ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({"model_type": "llama"}))
    torch.save({"w": torch.tensor([1.0, float("nan")]), "n": torch.arange(3)}, ckpt / "pytorch_model.bin")
    _age(ckpt)

    info = inspect_checkpoint(ckpt)

    assert isinstance(info, CheckpointInfo) and info.model_type == "llama"
    report = weights_report(ckpt)
    assert (report["tensors"], report["parameters"], report["nan"], report["inf"]) == (2, 5, 1, 0)
    assert report["non_finite"] == ["w"] and report["finite"] is False


def test_overlapping_roots_and_symlinks_inspected_once(tmp_path):
    ckpt = make_ckpt(tmp_path / "run" / "global_step_3")
    (tmp_path / "alias").symlink_to(tmp_path / "run")

    found, _ = discover_checkpoints([tmp_path, tmp_path / "run"])

    assert [f.path for f in found] == [str(ckpt)]
    assert found[0].step == 3


# ---- skipped folders ------------------------------------------------------------------------------
def test_truncated_safetensors_skipped_naming_the_file(tmp_path):
    ckpt = make_ckpt(tmp_path / "half")
    weights = ckpt / "model.safetensors"
    full = weights.stat().st_size
    with open(weights, "r+b") as fh:
        fh.truncate(full - 7)
    _age(ckpt)

    found, skipped = discover_checkpoints([tmp_path])

    assert found == []
    reason = (
        f"model.safetensors: truncated ({full - 7} bytes, its header says {full}); half-written or corrupt"
    )
    assert skipped == [(str(ckpt), reason)]


def test_truncated_inside_header_and_trailing_bytes(tmp_path):
    ckpt = make_ckpt(tmp_path / "short")
    weights = ckpt / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:20])
    assert inspect_checkpoint(ckpt, settle_s=0).startswith("model.safetensors: truncated (20 bytes, smaller")
    weights.write_bytes(data[:5])
    assert inspect_checkpoint(ckpt, settle_s=0).startswith("model.safetensors: truncated (5 bytes")
    weights.write_bytes(data + b"\0")
    assert inspect_checkpoint(ckpt, settle_s=0) == (
        f"model.safetensors: corrupt ({len(data) + 1} bytes, its header says {len(data)})"
    )


def test_corrupt_header_skipped(tmp_path):
    ckpt = make_ckpt(tmp_path / "bad")
    weights = ckpt / "model.safetensors"
    data = bytearray(weights.read_bytes())
    (header_len,) = struct.unpack("<Q", data[:8])
    data[8 : 8 + header_len] = b"x" * header_len
    weights.write_bytes(bytes(data))
    reason = inspect_checkpoint(ckpt, settle_s=0)
    assert reason.startswith("model.safetensors: corrupt safetensors header (not JSON")

    weights.write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    assert inspect_checkpoint(ckpt, settle_s=0) == (
        f"model.safetensors: corrupt safetensors header (header length {1 << 40} is implausible)"
    )

    header = json.dumps({"t": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}).encode()
    weights.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)
    assert inspect_checkpoint(ckpt, settle_s=0) == (
        "model.safetensors: corrupt safetensors header (offsets of tensor 't' do not fit its shape)"
    )


def test_index_naming_missing_shard(tmp_path):
    ckpt = tmp_path / "sharded"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    save_file({"a": torch.ones(2)}, str(ckpt / "model-00001-of-00002.safetensors"))
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (ckpt / "model.safetensors.index.json").write_text(json.dumps(index))
    _age(ckpt)

    found, skipped = discover_checkpoints([tmp_path])

    assert found == []
    assert skipped == [
        (str(ckpt), "model.safetensors.index.json names missing shard(s): model-00002-of-00002.safetensors")
    ]


def test_shards_without_index_are_not_weights(tmp_path):
    ckpt = tmp_path / "no_index"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    save_file({"a": torch.ones(2)}, str(ckpt / "model-00001-of-00002.safetensors"))
    assert inspect_checkpoint(ckpt, settle_s=0) == (
        "no weights: model.safetensors or model.safetensors.index.json missing "
        "(found only model-00001-of-00002.safetensors)"
    )


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        (None, "config.json missing"),
        ("{not json", "config.json is not valid JSON"),
        (json.dumps({"hidden_size": 3}), "config.json has no model_type"),
        (json.dumps([1, 2]), "config.json has no model_type"),
    ],
)
def test_bad_config_skipped(tmp_path, config, reason):
    ckpt = make_ckpt(tmp_path / "ckpt")
    if config is None:
        (ckpt / "config.json").unlink()
    else:
        (ckpt / "config.json").write_text(config)
    _age(ckpt)

    found, skipped = discover_checkpoints([tmp_path])

    assert found == []
    assert len(skipped) == 1 and skipped[0][0] == str(ckpt) and skipped[0][1].startswith(reason)


def test_config_without_weights_skipped(tmp_path):
    ckpt = make_ckpt(tmp_path / "ckpt")
    (ckpt / "model.safetensors").unlink()
    reason = (
        "no weights: none of model.safetensors, model.safetensors.index.json, pytorch_model.bin, "
        "pytorch_model.bin.index.json"
    )
    assert discover_checkpoints([tmp_path]) == ([], [(str(ckpt), reason)])


def test_tmp_dir_reported_not_descended(tmp_path):
    run = tmp_path / "run"
    done = make_ckpt(step_dir(run, 10))
    tmp = make_ckpt(run / "global_step_20.tmp-4242")
    make_ckpt(run / "global_step_30.tmp-99" / "inner")  # below a .tmp- dir: never visited

    found, skipped = discover_checkpoints([tmp_path])

    assert [f.path for f in found] == [str(done)]
    reason = "in-progress save (.tmp-* folder); the finished checkpoint appears under its final name"
    assert sorted(skipped) == [(str(tmp), reason), (str(run / "global_step_30.tmp-99"), reason)]
    assert inspect_checkpoint(tmp) == reason


def test_hidden_dirs_max_depth_and_missing_roots(tmp_path):
    make_ckpt(tmp_path / ".cache" / "ckpt")
    deep = make_ckpt(tmp_path / "a" / "b" / "c")
    missing = tmp_path / "nope"

    found, skipped = discover_checkpoints([tmp_path, missing], max_depth=3)
    assert [f.path for f in found] == [str(deep)]
    assert skipped == [(str(missing), "root does not exist")]

    found, skipped = discover_checkpoints([tmp_path], max_depth=2)
    assert (found, skipped) == ([], [])


def test_root_itself_a_checkpoint(tmp_path):
    ckpt = make_ckpt(tmp_path / "my model")
    found, _ = discover_checkpoints(ckpt)
    assert [f.name for f in found] == [f"my_model-{_hash(ckpt)}"]


def test_settle_window(tmp_path):
    ckpt = make_ckpt(tmp_path / "ckpt", mtime=None)
    newest = max(f.stat().st_mtime for f in ckpt.iterdir())

    reason = inspect_checkpoint(ckpt, settle_s=10.0, now=newest + 3.0)
    assert reason.startswith("still being written: ")
    assert reason.endswith("changed 3.0s ago (settle window 10s); retry after 7.0s")
    info = inspect_checkpoint(ckpt, settle_s=10.0, now=newest + 10.5)
    assert isinstance(info, CheckpointInfo) and info.mtime == newest

    # discovery uses the wall clock: a fresh folder waits, settle_s=0 takes it at once
    found, skipped = discover_checkpoints([tmp_path], settle_s=60.0)
    assert found == [] and skipped[0][1].startswith("still being written")
    found, skipped = discover_checkpoints([tmp_path], settle_s=0.0)
    assert [f.path for f in found] == [str(ckpt)] and skipped == []


def test_settle_counts_every_file(tmp_path):
    ckpt = make_ckpt(tmp_path / "ckpt")
    (ckpt / "tokenizer.json").write_text("{}")
    os.utime(ckpt / "tokenizer.json", (OLD + 100, OLD + 100))
    reason = inspect_checkpoint(ckpt, settle_s=10.0, now=OLD + 105)
    assert reason.startswith("still being written: tokenizer.json changed 5.0s ago")
    assert isinstance(inspect_checkpoint(ckpt, settle_s=10.0, now=OLD + 111), CheckpointInfo)


def _many_files(tmp_path):
    for d in range(20):
        folder = tmp_path / "data" / f"shard{d}"
        folder.mkdir(parents=True)
        for i in range(150):
            (folder / f"clip{i}.mp4").touch()
    ckpt = make_ckpt(step_dir(tmp_path / "run", 5))
    for i in range(1000):
        (ckpt / f"extra{i}.txt").touch()
    _age(ckpt)
    return ckpt


def test_many_files_scan(tmp_path):
    ckpt = _many_files(tmp_path)
    found, skipped = discover_checkpoints([tmp_path])
    assert [f.path for f in found] == [str(ckpt)] and skipped == []


@pytest.mark.slow
def test_many_files_scan_fast(tmp_path):
    ckpt = _many_files(tmp_path)
    start = time.perf_counter()
    found, skipped = discover_checkpoints([tmp_path])
    elapsed = time.perf_counter() - start

    assert [f.path for f in found] == [str(ckpt)] and skipped == []
    assert elapsed < 5.0, elapsed  # ~0.05s; generous on a shared machine


# ---- names ----------------------------------------------------------------------------------------
def test_name_rules(tmp_path):
    root = tmp_path / "root"
    a = root / "exp a" / "global_step_60"
    b = root / "exp|b,c" / "global_step_60"
    for path in (a, b):
        path.mkdir(parents=True)

    name_a, name_b = checkpoint_name(a, root), checkpoint_name(b, root)

    assert name_a == f"exp_a-step60-{_hash(a)}"
    assert name_b == f"exp_b_c-step60-{_hash(b)}"
    assert checkpoint_name(str(a), str(root)) == name_a  # stable, str or Path
    for name in (name_a, name_b):
        assert NAME_RE.match(name) and not set("|,/ ") & set(name)


def test_equal_basenames_get_distinct_names(tmp_path):
    a = tmp_path / "x" / "ckpt"
    b = tmp_path / "y" / "ckpt"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    # relative to their own parents the readable parts are identical; the hash tells them apart
    assert checkpoint_name(a, a.parent) != checkpoint_name(b, b.parent)
    assert checkpoint_name(a, a.parent).startswith("ckpt-")
    assert checkpoint_name(a, tmp_path) == f"x-ckpt-{_hash(a)}"


def test_name_of_deep_and_long_paths(tmp_path):
    root = tmp_path / "root"
    deep = root / "a" / "b" / ("long" * 30) / "c" / "global_step_123"
    name = checkpoint_name(deep, root)
    assert len(name) == 64 and NAME_RE.match(name)
    assert name.endswith(f"-c-step123-{_hash(deep)}")
    assert checkpoint_name(deep, root) == name

    outside = tmp_path / "elsewhere" / "global_step_7"
    assert checkpoint_name(outside, root) == f"{tmp_path.name}-elsewhere-step7-{_hash(outside)}"
    assert NAME_RE.match(checkpoint_name(root / "..." / "ök", root))


# ---- find_checkpoint ------------------------------------------------------------------------------
def test_find_checkpoint(tmp_path):
    ckpt = make_ckpt(step_dir(tmp_path / "run", 4), mtime=None)  # fresh: find uses settle_s=0
    name = f"run-step4-{_hash(ckpt)}"

    info = find_checkpoint(name, [tmp_path])
    assert (info.name, info.path, info.step) == (name, str(ckpt), 4)

    with pytest.raises(KeyError) as err:
        find_checkpoint("run-step5-000000", [tmp_path, tmp_path / "other"])
    message = err.value.args[0]
    assert message == (
        f"no checkpoint named 'run-step5-000000' under {tmp_path}, {tmp_path / 'other'}; known: {name}"
    )


def test_find_checkpoint_unusable_says_why(tmp_path):
    ckpt = make_ckpt(tmp_path / "ckpt")
    (ckpt / "model.safetensors").write_bytes(b"\0" * 4)
    name = checkpoint_name(ckpt, tmp_path)
    with pytest.raises(KeyError, match=r"is not usable: model\.safetensors: truncated"):
        find_checkpoint(name, tmp_path)


# ---- weights_report -------------------------------------------------------------------------------
def test_weights_report_counts_nan_and_inf_exactly(tmp_path):
    nan, inf = float("nan"), float("inf")
    tensors = {
        "f32.bad": torch.tensor([[1.0, nan], [nan, inf]]),
        "bf16.bad": torch.tensor([nan, -inf, -inf, 2.0], dtype=torch.bfloat16),
        "f16.ok": torch.tensor([1.0, 65504.0], dtype=torch.float16),
        "int.ok": torch.arange(6, dtype=torch.int64).reshape(2, 3),
        "bool.ok": torch.tensor([True, False]),
    }
    ckpt = make_ckpt(tmp_path / "ckpt", tensors)

    report = weights_report(ckpt)

    assert report == {
        "tensors": 5,
        "parameters": 4 + 4 + 2 + 6 + 2,
        "non_finite": ["bf16.bad", "f32.bad"],
        "nan": 3,
        "inf": 3,
        "finite": False,
        "files": ["model.safetensors"],
    }


def test_weights_report_finite_and_first_20_names(tmp_path):
    ok = make_ckpt(tmp_path / "ok", {"w": torch.randn(3, 3, dtype=torch.bfloat16)})
    assert weights_report(ok) == {
        "tensors": 1,
        "parameters": 9,
        "non_finite": [],
        "nan": 0,
        "inf": 0,
        "finite": True,
        "files": ["model.safetensors"],
    }
    bad = make_ckpt(tmp_path / "bad", {f"t{i:02d}": torch.tensor([math.inf]) for i in range(25)})
    report = weights_report(bad)
    assert report["non_finite"] == [f"t{i:02d}" for i in range(20)]
    assert (report["inf"], report["nan"], report["finite"]) == (25, 0, False)


def test_weights_report_without_weights_raises(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="no weights"):
        weights_report(tmp_path)


# ---- a real tiny model ----------------------------------------------------------------------------
def test_real_tiny_model_discovered_and_finite(tmp_path):
    from demo_kit.tiny_models import build_tiny_model

    path = build_tiny_model("qwen2_5_vl", tmp_path / "models" / "tiny", seed=0)

    found, skipped = discover_checkpoints([tmp_path], settle_s=0.0)

    assert skipped == []
    assert [(f.path, f.model_type, f.name) for f in found] == [
        (str(path), "qwen2_5_vl", f"models-tiny-{_hash(path)}")
    ]
    report = weights_report(path)
    assert report["finite"] is True and report["nan"] == report["inf"] == 0
    assert report["tensors"] > 10 and report["parameters"] > 1000
