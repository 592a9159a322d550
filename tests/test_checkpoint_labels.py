"""Checkpoint labels: what a person calls a checkpoint partition, from where its folder sits."""

from assets.checkpoint_labels import checkpoint_label, labelled


def test_labels_follow_the_workspace_layout(tmp_path):
    home = tmp_path / "home"
    assert checkpoint_label(home / "models" / "tiny-qwen2_5_vl", home) == "base"
    assert checkpoint_label(home / "runs" / "sft" / "abc" / "checkpoint", home) == "warm start"
    sft_mid = home / "runs" / "sft" / "abc" / "checkpoints" / "global_step_40"
    assert checkpoint_label(sft_mid, home) == "warm start step 40"
    rl = home / "runs" / "grpo" / "193fd8062ff8" / "checkpoints" / "global_step_60"
    assert checkpoint_label(rl, home) == "step 60"
    assert checkpoint_label(home / "runs" / "grpo" / "d" / "checkpoint", home) == "trained"
    # outside the workspace: a step when the path names one, else nothing to say
    assert checkpoint_label(tmp_path / "mine" / "global_step_7" / "actor" / "huggingface", home) == "step 7"
    assert checkpoint_label(tmp_path / "mine" / "models" / "x", home) is None
    assert checkpoint_label(tmp_path / "global_step_x", home) is None


def test_labelled_keeps_the_key_as_detail():
    assert labelled("193fd8062ff8-checkpoints-step60-3dd0ce", "step 60") == (
        "step 60 (193fd8062ff8-checkpoints-step60-3dd0ce)"
    )
    assert labelled("mine-3dd0ce", None) == "mine-3dd0ce"
