"""Rollout groups: DAPO dynamic sampling, mixed offline/online groups, T-GRPO shuffling and bonus."""

import itertools
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cache_store.types import CachedMedia
from training.data.items import TrainItem
from training.engines.base import Completion
from training.loop.groups import (
    DynamicBatch,
    dynamic_sample,
    frame_permutation,
    group_accuracy,
    keep_group,
    offline_completion,
    shuffle_frames,
    shuffle_video_items,
    substitute_offline,
    temporal_group_bonus,
)
from training.loop.rollout import Rollout
from training.models.processor import QwenVLProcessor


def ro(item: int, accuracy: float, fmt: float = 1.0) -> Rollout:
    reward = {"accuracy": accuracy, "format": fmt, "overall": 0.9 * accuracy + 0.1 * fmt}
    return Rollout(item, Completion(f"r{item}", [5, 2], "stop"), reward)


class FixedGenerator:
    """Stands in for ``np.random.Generator``: each ``permutation`` call returns the next given draw."""

    def __init__(self, *draws):
        self.draws = [list(d) for d in draws]

    def permutation(self, n):
        draw = self.draws.pop(0)
        assert n == len(draw)
        return np.array(draw)


# -- group accuracy and the keep rule -----------------------------------------------------------------------
def test_group_accuracy_plain_values_in_first_appearance_order():
    assert group_accuracy([1, 0, 1, 1, 0.25, 0.5], ["b", "b", "a", "a", "c", "c"]) == {
        "b": 0.5,
        "a": 1.0,
        "c": 0.375,
    }


def test_group_accuracy_of_rollouts_groups_by_item_index_or_given_index():
    rollouts = [ro(0, 1.0), ro(0, 0.0), ro(0, 0.0), ro(1, 0.5), ro(1, 1.0)]
    assert group_accuracy(rollouts) == {0: 1 / 3, 1: 0.75}
    assert group_accuracy(rollouts, key="format") == {0: 1.0, 1: 1.0}
    assert group_accuracy(rollouts, index=["x"] * 5) == {"x": 0.5}
    assert group_accuracy([]) == {}


@pytest.mark.parametrize(
    "values, index, message",
    [
        ([1.0, 0.0], None, "plain accuracies need an index"),
        ([1.0, 0.0], [0], "differ in length: 2 vs 1"),
        ([1.0, float("nan")], [0, 0], "accuracy 1 must be a finite number"),
        ([1.0, "1"], [0, 0], "accuracy 1 must be a finite number"),
    ],
)
def test_group_accuracy_rejects_bad_input(values, index, message):
    with pytest.raises(ValueError, match=message):
        group_accuracy(values, index)


@pytest.mark.parametrize(
    "mean, low, high, kept",
    [
        (0.0, 0.0, 1.0, False),  # all wrong
        (0.125, 0.0, 1.0, True),  # 1 of 8
        (0.875, 0.0, 1.0, True),
        (1.0, 0.0, 1.0, False),  # all correct
        (0.5, 0.5, 1.0, False),  # both bounds strict
        (0.995, 0.01, 0.99, False),  # EasyR1 filter_low / filter_high
        (0.005, 0.01, 0.99, False),
        (0.011, 0.01, 0.99, True),
    ],
)
def test_keep_group_is_strict_on_both_sides(mean, low, high, kept):
    assert keep_group(mean, low, high) is kept


@pytest.mark.parametrize(
    "args, message",
    [((0.5, 0.6, 0.6), "low 0.6 must be < high 0.6"), ((float("nan"),), "mean_acc must be a finite")],
)
def test_keep_group_rejects_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        keep_group(*args)


@pytest.mark.parametrize("n", [2, 4, 5])
def test_keep_group_equals_verl_std_rule_on_binary_accuracy(n):
    """verl DAPO filter_groups keeps std > 0 groups; for 0/1 accuracy that is exactly 0 < mean < 1."""
    for accs in itertools.product([0.0, 1.0], repeat=n):
        assert keep_group(sum(accs) / n) is bool(np.std(accs) > 0)


def test_keep_group_differs_from_std_rule_on_continuous_or_singleton_groups():
    assert np.std([0.5, 0.5]) == 0 and keep_group(0.5)  # verl drops it, the mean rule keeps it
    assert not keep_group(1.0)  # a singleton group: verl keeps it, the mean rule drops a 0/1 one


def test_filtering_on_overall_keeps_an_all_wrong_formatted_group():
    group = [ro(0, 0.0), ro(0, 0.0), ro(0, 0.0), ro(0, 0.0)]  # wrong but well formatted: overall 0.1
    assert group_accuracy(group, key="overall") == {0: 0.1}
    assert keep_group(0.1, 0.01, 0.99)  # EasyVideoR1 filter_key=overall would train on it
    assert not keep_group(group_accuracy(group)[0], 0.01, 0.99)
    result = dynamic_sample(lambda items: group, iter([["x"]]), target_groups=1, max_tries=1, low=0.01)
    assert result.items == [] and result.report.dropped_all_wrong == 1


# -- dynamic sampling ---------------------------------------------------------------------------------------
ACCURACIES = {
    "a": [1, 1],  # all correct
    "b": [0, 1],
    "c": [0, 0],  # all wrong
    "d": [1, 0],
    "e": [0, 0],
    "f": [1, 0],
    "g": [1, 1],
}


class Sampler:
    """A rollout_and_score stand-in: item-major groups from ACCURACIES; records its calls."""

    def __init__(self):
        self.calls = []

    def __call__(self, items):
        self.calls.append(list(items))
        return [ro(i, float(a)) for i, item in enumerate(items) for a in ACCURACIES[item]]


def batches():
    return iter([["a", "b", "c"], ["d", "e", "f"], ["g"]])


def test_dynamic_sample_stops_at_the_target_and_renumbers_items():
    sampler, it = Sampler(), batches()
    result = dynamic_sample(sampler, it, target_groups=3, max_tries=5)
    assert isinstance(result, DynamicBatch)
    assert result.items == ["b", "d", "f"]
    assert [r.item_index for r in result.rollouts] == [0, 0, 1, 1, 2, 2]
    assert [r.reward["accuracy"] for r in result.rollouts] == [0.0, 1.0, 1.0, 0.0, 1.0, 0.0]
    rep = result.report
    assert (rep.kept, rep.dropped_all_correct, rep.dropped_all_wrong, rep.surplus, rep.tries) == (
        3,
        1,
        2,
        0,
        2,
    )
    assert (rep.stop_reason, rep.reached_target, rep.rollouts_generated) == ("target", True, 12)
    assert rep.accuracy_generated == 5 / 12
    assert next(it) == ["g"]  # the third batch was not drawn
    assert sampler.calls == [["a", "b", "c"], ["d", "e", "f"]]


def test_dynamic_sample_truncates_surplus_groups_like_easyr1():
    result = dynamic_sample(Sampler(), batches(), target_groups=2, max_tries=5)
    assert result.items == ["b", "d"]
    assert (result.report.kept, result.report.surplus, result.report.dropped_all_wrong) == (2, 1, 2)


def test_dynamic_sample_returns_what_it_has_when_tries_run_out():
    it = batches()
    result = dynamic_sample(Sampler(), it, target_groups=5, max_tries=2)
    assert result.items == ["b", "d", "f"]
    assert (result.report.stop_reason, result.report.reached_target, result.report.tries) == (
        "max_tries",
        False,
        2,
    )
    assert next(it) == ["g"]


def test_dynamic_sample_reports_exhausted_data():
    result = dynamic_sample(Sampler(), batches(), target_groups=5, max_tries=10)
    assert result.items == ["b", "d", "f"]
    assert result.report.metrics() == {
        "dynamic_sampling/kept": 3.0,
        "dynamic_sampling/dropped_all_correct": 2.0,
        "dynamic_sampling/dropped_all_wrong": 2.0,
        "dynamic_sampling/surplus": 0.0,
        "dynamic_sampling/tries": 3.0,
        "dynamic_sampling/failed": 0.0,
        "dynamic_sampling/accuracy_generated": 7 / 14,
        "dynamic_sampling/reached_target": 0.0,
    }
    assert result.report.stop_reason == "data_exhausted"


def test_dynamic_sample_never_loops_forever_on_solved_data():
    sampler = Sampler()
    result = dynamic_sample(sampler, itertools.repeat(["a", "g"]), target_groups=1, max_tries=4)
    assert len(sampler.calls) == 4
    assert (result.items, result.rollouts) == ([], [])
    assert (result.report.dropped_all_correct, result.report.stop_reason) == (8, "max_tries")


def test_dynamic_sample_does_not_mutate_the_sampled_rollouts():
    produced = []

    def sample(items):
        produced.extend([ro(1, 0.0), ro(1, 1.0)])
        return [ro(0, 1.0), ro(0, 1.0), *produced]

    result = dynamic_sample(sample, iter([["solved", "mixed"]]), target_groups=1, max_tries=1)
    assert result.items == ["mixed"] and [r.item_index for r in result.rollouts] == [0, 0]
    assert [r.item_index for r in produced] == [1, 1]
    assert result.rollouts[0].completion is produced[0].completion


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(st.lists(st.lists(st.sampled_from([0.0, 0.25, 1.0]), min_size=1, max_size=4), max_size=4)),
    target=st.integers(1, 5),
    max_tries=st.integers(1, 6),
)
def test_dynamic_sample_accounts_for_every_group(data, target, max_tries):
    """Every sampled group is kept, surplus or dropped; kept groups pass the rule; tries are bounded."""

    def sample(items):
        return [ro(i, a) for i, accs in enumerate(items) for a in accs]

    result = dynamic_sample(sample, iter(data), target, max_tries)
    rep = result.report
    seen = sum(len(batch) for batch in data[: rep.tries])
    assert rep.kept + rep.surplus + rep.dropped_all_correct + rep.dropped_all_wrong == seen
    assert rep.kept == len(result.items) <= target and rep.tries <= min(max_tries, len(data))
    assert all(keep_group(sum(accs) / len(accs)) for accs in result.items)
    assert [r.reward["accuracy"] for r in result.rollouts] == [a for accs in result.items for a in accs]
    assert rep.reached_target == (rep.stop_reason == "target")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"target_groups": 0}, "target_groups must be an int >= 1"),
        ({"max_tries": 0}, r"max_tries must be an int >= 1 \(no endless"),
        ({"max_tries": True}, "max_tries must be an int >= 1"),
        ({"low": 0.5, "high": 0.5}, "low 0.5 must be < high 0.5"),
    ],
)
def test_dynamic_sample_rejects_bad_settings_before_sampling(kwargs, message):
    sampler = Sampler()
    with pytest.raises(ValueError, match=message):
        dynamic_sample(sampler, batches(), **({"target_groups": 1, "max_tries": 1} | kwargs))
    assert sampler.calls == []


def test_dynamic_sample_rejects_a_broken_sampler():
    with pytest.raises(ValueError, match="item_index 2 outside the batch of 2 items"):
        dynamic_sample(
            lambda items: [ro(0, 1.0), ro(2, 0.0)], iter([["x", "y"]]), target_groups=1, max_tries=1
        )


def test_dynamic_sample_skips_and_counts_items_whose_generation_failed():
    # item "y" got no rollouts (its generation failed and the sampler recorded it): left out, counted
    out = dynamic_sample(
        lambda items: [ro(0, 1.0), ro(0, 0.0), ro(2, 0.0), ro(2, 1.0)], iter([["x", "y", "z"]]),
        target_groups=3, max_tries=1,
    )  # fmt: skip
    assert out.items == ["x", "z"] and [r.item_index for r in out.rollouts] == [0, 0, 1, 1]
    assert out.report.failed == 1 and out.report.kept == 2 and out.report.stop_reason == "max_tries"
    assert out.report.metrics()["dynamic_sampling/failed"] == 1.0


# -- mixed offline / online groups --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def processor(tiny_models):
    return QwenVLProcessor(tiny_models["qwen2_5_vl"])


OFFLINE = "<think>The ball moves left.</think><answer>A</answer>"


def test_offline_completion_ends_with_the_models_eos(processor):
    tok = processor.tokenizer
    im_end, endoftext = tok.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])
    assert processor.eos_token_ids == sorted([im_end, endoftext])
    plain = tok(OFFLINE, add_special_tokens=False)["input_ids"]  # EasyVideoR1's encoding
    assert plain[-1] not in processor.eos_token_ids  # ... has no EOS: the policy never learns to stop
    completion = offline_completion(OFFLINE, tok, processor.eos_token_ids)
    assert completion.token_ids == plain + [im_end]  # tokenizer.eos_token_id, the end-of-turn token
    assert (completion.text, completion.finish_reason) == (OFFLINE, "stop")
    assert tok.decode(completion.token_ids) == OFFLINE + "<|im_end|>"  # no BOS, no chat markup


@pytest.mark.parametrize(
    "text, suffix, decoded",
    [
        (OFFLINE + "<|im_end|>", [], OFFLINE),  # already terminated: no second EOS
        (OFFLINE + "<|endoftext|>", [], OFFLINE),
        ("", ["<|im_end|>"], ""),
    ],
)
def test_offline_completion_adds_exactly_one_eos(processor, text, suffix, decoded):
    tok = processor.tokenizer
    completion = offline_completion(text, tok, processor.eos_token_ids)
    assert completion.token_ids == tok(text, add_special_tokens=False)[
        "input_ids"
    ] + tok.convert_tokens_to_ids(suffix)
    assert sum(t in processor.eos_token_ids for t in completion.token_ids) == 1
    assert completion.text == decoded


def test_offline_completion_falls_back_to_the_first_eos_id(processor):
    tok = processor.tokenizer
    endoftext = tok.convert_tokens_to_ids("<|endoftext|>")
    completion = offline_completion("A", tok, [endoftext])
    assert completion.token_ids == tok("A", add_special_tokens=False)["input_ids"] + [endoftext]


def test_offline_completion_cut_at_max_tokens_has_no_eos(processor):
    tok, eos = processor.tokenizer, processor.eos_token_ids
    plain = tok(OFFLINE, add_special_tokens=False)["input_ids"]
    cut = offline_completion(OFFLINE, tok, eos, max_tokens=3)
    assert (cut.token_ids, cut.finish_reason, cut.text) == (plain[:3], "length", tok.decode(plain[:3]))
    fits = offline_completion(OFFLINE, tok, eos, max_tokens=len(plain) + 1)
    assert (fits.token_ids, fits.finish_reason) == (plain + [tok.eos_token_id], "stop")


@pytest.mark.parametrize(
    "text, eos, message",
    [
        ("a<|im_end|>b", None, "EOS token before its end"),
        ("look <|video_pad|>", None, r"vision token <\|video_pad\|>"),
        ("a", [], "eos_token_ids is empty"),
    ],
)
def test_offline_completion_rejects_malformed_trajectories(processor, text, eos, message):
    with pytest.raises(ValueError, match=message):
        offline_completion(text, processor.tokenizer, processor.eos_token_ids if eos is None else eos)


ONLINE = [Completion(f"online {i}", [10 + i, 2], "stop") for i in range(4)]
OFFLINE_COMPLETION = Completion("offline", [7, 2], "stop")


@pytest.mark.parametrize(
    "online_accuracy, threshold, replaced",
    [
        (None, None, True),  # unconditional mode
        (1.0, None, True),
        (0.25, 0.5, True),
        (0.5, 0.5, False),  # strictly below the threshold
        (0.0, 0.0, False),  # threshold 0: never
        (1.0, 1.0, False),
        (0.75, 1.0, True),
    ],
)
def test_substitute_offline_replaces_the_last_slot(online_accuracy, threshold, replaced):
    original = list(ONLINE)
    result = substitute_offline(ONLINE, OFFLINE_COMPLETION, online_accuracy, threshold)
    group, was_replaced, off_policy = result
    assert was_replaced is replaced and result.replaced is replaced
    assert group[:3] == ONLINE[:3] and group is not ONLINE
    assert group[3] is (OFFLINE_COMPLETION if replaced else ONLINE[3])
    assert off_policy == [False, False, False, replaced]
    assert ONLINE == original


@pytest.mark.parametrize(
    "group, online_accuracy, threshold, message",
    [
        (ONLINE[:1], None, None, "needs n >= 2"),
        (ONLINE, 0.5, 1.5, r"threshold must be in \[0, 1\]"),
        (ONLINE, None, 0.5, "needs the online group's mean accuracy"),
        (ONLINE, float("nan"), 0.5, "online_accuracy must be a finite"),
    ],
)
def test_substitute_offline_rejects_bad_arguments(group, online_accuracy, threshold, message):
    with pytest.raises(ValueError, match=message):
        substitute_offline(group, OFFLINE_COMPLETION, online_accuracy, threshold)


# -- T-GRPO: frame shuffling --------------------------------------------------------------------------------
def video(num_frames: int = 4, side: int = 2, digest: str = "d0") -> CachedMedia:
    frames = (
        np.zeros((num_frames, side, side, 3), dtype=np.uint8)
        + np.arange(num_frames, dtype=np.uint8)[:, None, None, None]
    )
    return CachedMedia(
        digest=digest,
        source="clip.mp4",
        kind="video",
        frames=frames,
        source_fps=30.0,
        total_frames=120,
        indices=[0, 40, 80, 119][:num_frames],
        timestamps=[0.0, 40 / 30, 80 / 30, 119 / 30][:num_frames],
        sample_fps=1.0,
    )


@pytest.mark.parametrize(
    "draw, expected",
    [([0, 1], [1, 0]), ([0, 1, 2, 3], [3, 0, 1, 2]), ([2, 0, 1], [2, 0, 1]), ([0], [0])],
)
def test_frame_permutation_rolls_an_identity_draw(draw, expected):
    assert frame_permutation(len(draw), FixedGenerator(draw)).tolist() == expected


def test_frame_permutation_is_never_the_identity_and_reaches_every_other_order():
    seen = {tuple(frame_permutation(3, np.random.default_rng(seed)).tolist()) for seed in range(200)}
    assert seen == set(itertools.permutations(range(3))) - {(0, 1, 2)}
    assert {tuple(frame_permutation(2, np.random.default_rng(s)).tolist()) for s in range(50)} == {(1, 0)}


def test_shuffle_frames_moves_pixels_only():
    media = video()
    shuffled = shuffle_frames(media, FixedGenerator([2, 0, 3, 1]))
    assert shuffled.frames[:, 0, 0, 0].tolist() == [2, 0, 3, 1]
    assert shuffled.digest == "d0#perm=2.0.3.1"
    kept = ("indices", "timestamps", "source_fps", "total_frames", "sample_fps", "source", "kind")
    assert {k: getattr(shuffled, k) for k in kept} == {k: getattr(media, k) for k in kept}
    assert media.frames[:, 0, 0, 0].tolist() == [0, 1, 2, 3] and media.digest == "d0"


def test_shuffle_frames_leaves_images_and_single_frames_alone():
    image = replace(video(1), kind="image")
    assert shuffle_frames(image, FixedGenerator([0])) is image
    one = video(1)
    assert shuffle_frames(one, FixedGenerator([0])) is one


def test_shuffled_qwen3_prompt_keeps_its_timestamp_tokens(tiny_models):
    proc = QwenVLProcessor(tiny_models["qwen3_vl"])
    media = video(4, side=proc.video.factor)
    media.frames = np.random.default_rng(0).integers(0, 256, media.frames.shape, dtype=np.uint8)
    shuffled = shuffle_frames(media, FixedGenerator([2, 0, 3, 1]))
    ordered_enc, shuffled_enc = (
        proc.encode("What happens?", [media]),
        proc.encode("What happens?", [shuffled]),
    )
    assert shuffled_enc.input_ids == ordered_enc.input_ids  # same "<t seconds>" tokens
    # timestamps of the frame pairs in source order: (0 + 40) / 2 / 30 and (80 + 119) / 2 / 30 seconds
    text = proc.tokenizer.decode(ordered_enc.input_ids)
    assert text.index("<0.7 seconds>") < text.index("<3.3 seconds>")
    expected = proc.encode("What happens?", [replace(media, frames=media.frames[[2, 0, 3, 1]])])
    assert bool((shuffled_enc.pixel_values_videos == expected.pixel_values_videos).all())
    assert not bool((shuffled_enc.pixel_values_videos == ordered_enc.pixel_values_videos).all())


def item(sample_id: str, data_type: str, media: list) -> TrainItem:
    return TrainItem(sample_id, "q", "multiple choice", data_type, "A", ["A. x", "B. y"], media)


def test_shuffle_video_items_returns_video_items_and_their_positions():
    image = replace(video(1, digest="img"), kind="image")
    items = [
        item("i", "image", [image]),
        item("v1", "video", [video()]),
        item("t", "text", []),
        item("v2", "video", [video(2)]),
    ]
    shuffled, origin = shuffle_video_items(items, FixedGenerator([0, 1, 2, 3], [1, 0]))
    assert origin == [1, 3] and [it.sample_id for it in shuffled] == ["v1", "v2"]
    assert shuffled[0].media[0].frames[:, 0, 0, 0].tolist() == [3, 0, 1, 2]  # identity draw rolled
    assert shuffled[1].media[0].frames[:, 0, 0, 0].tolist() == [1, 0]
    assert items[1].media[0].frames[:, 0, 0, 0].tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="sample bad: data_type video but no video media"):
        shuffle_video_items([item("bad", "video", [image])], FixedGenerator([0]))


# -- T-GRPO: bonus per group --------------------------------------------------------------------------------
ORDERED = (
    [ro(0, a) for a in (1.0, 0.0, 0.5, 0.0)]
    + [ro(1, 1.0), ro(1, 1.0)]
    + [ro(2, a) for a in (0.0, 1.0, 0.0, 0.0)]
)
SHUFFLED = [ro(0, 0.0), ro(0, 0.5), ro(1, 1.0), ro(1, 0.0)]  # items 0 and 2 of ORDERED, via origin [0, 2]


def test_temporal_group_bonus_applies_video_r1_per_group():
    result = temporal_group_bonus(ORDERED, SHUFFLED, ["video", "image", "video"], shuffled_origin=[0, 2])
    # item 0: p = 0.375 >= 0.8 * 0.25 -> +0.3 where a > 0.1; item 1 an image; item 2: 0.25 < 0.8 * 0.5
    assert result.bonus.tolist() == [0.3, 0.0, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert (result.groups[0].applied, result.groups[2].applied, result.groups[1].metric) == (True, False, 0.5)
    assert result.metrics == {
        "temporal/video_groups": 2.0,
        "temporal/applied_ratio": 0.5,
        "temporal/p_ordered": (0.375 + 0.25) / 2,
        "temporal/p_shuffled": (0.25 + 0.5) / 2,
        "temporal/reward": (1.0 + 0.5 + 0.0) / 3,
        "temporal/bonus_mean": (0.3 + 0.3) / 10,
    }


def test_temporal_group_bonus_mask_gives_a_video_item_the_image_treatment():
    """A video whose shuffled group failed (no shuffled rollouts) gets no bonus, as an image: bonus_mask."""
    result = temporal_group_bonus(
        ORDERED, SHUFFLED[:2], ["video", "image", "video"], shuffled_origin=[0, 2],
        bonus_mask=[True, True, False],
    )  # fmt: skip
    assert result.bonus.tolist() == [0.3, 0.0, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert (result.groups[2].applied, result.groups[2].metric) == (False, 0.5)
    assert result.metrics["temporal/video_groups"] == 1.0
    as_image = temporal_group_bonus(
        ORDERED, SHUFFLED[:2], ["video", "image", "image"], shuffled_origin=[0, 2]
    )
    assert result.metrics == as_image.metrics and result.bonus.tolist() == as_image.bonus.tolist()


def test_temporal_group_bonus_passes_alpha_and_mu():
    result = temporal_group_bonus(ORDERED, SHUFFLED, ["video", "image", "video"], 0.5, 0.5, [0, 2])
    assert result.bonus.tolist() == [0.5, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0]  # 0.25 >= 0.5 * 0.5


def test_temporal_group_bonus_maps_shuffled_rollouts_by_item_index_without_origin():
    ordered = [ro(3, 1.0), ro(3, 0.0)]
    result = temporal_group_bonus(ordered, [ro(3, 0.0)], ["image", "image", "image", "video"])
    assert result.bonus.tolist() == [0.3, 0.0]  # p = 0.5 >= 0.8 * 0
    assert (result.groups[3].p, result.groups[3].p_shuffled) == (0.5, 0.0)


def test_temporal_group_bonus_without_video_groups():
    result = temporal_group_bonus(ORDERED[4:6], [], "image")
    assert result.bonus.tolist() == [0.0, 0.0]
    assert result.metrics == {
        "temporal/video_groups": 0.0,
        "temporal/reward": 0.5,
        "temporal/bonus_mean": 0.0,
    }


@pytest.mark.parametrize(
    "shuffled, origin, message",
    [
        (SHUFFLED[:2], [0], "a video needs a non-empty shuffled_accuracies"),  # item 2 has none
        (SHUFFLED, [0, 5], "item_index 1 maps to no ordered group"),
        (SHUFFLED, [0], "item_index 1 maps to no ordered group"),
    ],
)
def test_temporal_group_bonus_rejects_missing_or_stray_shuffled_groups(shuffled, origin, message):
    with pytest.raises(ValueError, match=message):
        temporal_group_bonus(ORDERED, shuffled, ["video", "image", "video"], shuffled_origin=origin)
