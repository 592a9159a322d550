"""Rollout groups (the ``n`` rollouts of one prompt, ``Rollout.item_index``): DAPO dynamic sampling,
mixed offline/online groups (EasyVideoR1 ``enable_mix_policy``), Video-R1 T-GRPO shuffling and bonus,
Video-R1's length bonus per group.
Pure: the trainer supplies the sampling callable.

**Dynamic sampling.** A group is kept when ``low < mean accuracy < high`` (``filtering.keep_group``, the
offline pass-rate filter's rule too), EasyR1 /
EasyVideoR1 ``_make_batch_data`` with ``filter_low``/``filter_high``. verl's DAPO recipe
(``recipe/dapo/dapo_ray_trainer.py``, ``filter_groups.metric=acc``) keeps a group when ``np.std(acc) > 0``
or it has one response. For binary accuracy the two agree exactly with ``low=0, high=1``: std > 0 ⟺ the
group has a 0 and a 1 ⟺ ``0 < mean < 1``. They differ for continuous accuracies (``[0.5, 0.5]``: std 0,
dropped by verl, kept here though its accuracy advantage is 0) and for singletons (kept by verl; a binary
one is dropped here: n = 1 has no GRPO signal). Filtering reads **accuracy**, never ``overall`` (with a
format reward an all-wrong, well-formatted group has ``overall`` 0.1 and would pass EasyVideoR1's default
``filter_key=overall``), and reads it *before* any T-GRPO bonus (Video-R1 adds that to accuracy).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

from cache_store.types import CachedMedia
from training.engines.base import Completion
from training.filtering.rules import check_bounds, keep_group
from training.loop.rollout import Rollout
from training.models.processor import VISION_TOKENS
from training.rewards.shaping import TemporalBonus, length_bonus, temporal_bonus


def _finite(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


# ---- dynamic sampling -----------------------------------------------------------------------------
def group_accuracy(
    values: Sequence[Rollout] | Sequence[float],
    index: Sequence[Hashable] | None = None,
    key: str = "accuracy",
) -> dict[Hashable, float]:
    """Mean accuracy per group, in order of first appearance.

    ``values`` are rollouts (accuracy ``r.reward[key]``, group ``r.item_index`` unless ``index`` is given)
    or plain accuracies with their group ``index``. ``group_accuracy([1, 0, 1, 1], ["a", "a", "b", "b"])``
    is ``{"a": 0.5, "b": 1.0}``.
    """
    rollouts = bool(values) and all(isinstance(v, Rollout) for v in values)
    if index is None:
        if values and not rollouts:
            raise ValueError("plain accuracies need an index (one group key per accuracy)")
        index = [v.item_index for v in values]
    if len(index) != len(values):
        raise ValueError(f"values and index differ in length: {len(values)} vs {len(index)}")
    sums: dict[Hashable, list[float]] = {}
    for i, (v, g) in enumerate(zip(values, index)):
        acc = _finite(v.reward[key] if rollouts else v, f"accuracy {i}")
        sums.setdefault(g, []).append(acc)
    return {g: math.fsum(accs) / len(accs) for g, accs in sums.items()}


@dataclass
class SamplingReport:
    """What ``dynamic_sample`` did. ``dropped_all_correct`` counts groups with mean >= high and
    ``dropped_all_wrong`` those with mean <= low (exactly all-correct / all-wrong for the defaults 0 and 1
    and accuracies in [0, 1]); ``surplus`` qualifying groups beyond the target (discarded, as EasyR1
    truncates); ``tries`` batches sampled; ``stop_reason`` "target", "max_tries" or "data_exhausted"."""

    target: int
    kept: int = 0
    dropped_all_correct: int = 0
    dropped_all_wrong: int = 0
    surplus: int = 0
    tries: int = 0
    rollouts_generated: int = 0
    failed: int = 0  # prompts ``sample`` returned no rollouts for (their generation failed, recorded there)
    accuracy_generated: float = 0.0  # mean accuracy over every generated rollout, kept or not
    stop_reason: str = "target"

    @property
    def reached_target(self) -> bool:
        return self.kept >= self.target

    def metrics(self, prefix: str = "dynamic_sampling/") -> dict[str, float]:
        names = ("kept", "dropped_all_correct", "dropped_all_wrong", "surplus", "tries", "failed")
        names += ("accuracy_generated",)
        out = {f"{prefix}{n}": float(getattr(self, n)) for n in names}
        out[f"{prefix}reached_target"] = float(self.reached_target)
        return out


@dataclass
class DynamicBatch:
    """The kept groups: ``rollouts[j].item_index`` indexes ``items`` (re-numbered from 0)."""

    items: list = field(default_factory=list)
    rollouts: list[Rollout] = field(default_factory=list)
    report: SamplingReport = field(default_factory=lambda: SamplingReport(target=0))


def dynamic_sample(
    sample: Callable[[list], list[Rollout]],
    batches: Iterable[list],
    target_groups: int,
    max_tries: int,
    low: float = 0.0,
    high: float = 1.0,
    key: str = "accuracy",
) -> DynamicBatch:
    """Roll out batches from ``batches`` with ``sample`` (item-major groups, like ``rollout_and_score``),
    keeping ``keep_group`` groups until ``target_groups`` are kept (later qualifying groups of that batch
    are surplus), ``max_tries`` batches were sampled, or ``batches`` ends. ``max_tries >= 1``: verl's and
    EasyR1's ``0 = endless`` is not offered. With mixed groups, ``sample`` substitutes and re-scores
    first, so the filter sees the group that is trained on (EasyVideoR1's order). An item ``sample``
    returns no rollouts for (its generation failed; ``sample`` records it) is skipped and counted in
    ``report.failed``.

    Short of the target (``report.reached_target`` False) nothing is raised (EasyR1 raises): the trainer
    should train on the groups it has (the token-mean loss normalises by the tokens present), skip the
    update when there are none, and log ``report.metrics()``; persistent shortfalls mean the data is too
    hard or too easy for the policy.
    """
    for name, value in (("target_groups", target_groups), ("max_tries", max_tries)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1 (no endless sampling), got {value!r}")
    check_bounds(low, high)  # before any sampling
    batches = iter(batches)
    out = DynamicBatch(report=SamplingReport(target=target_groups))
    report, acc_sum = out.report, 0.0
    while report.kept < target_groups:
        if report.tries >= max_tries:
            report.stop_reason = "max_tries"
            break
        try:
            items = list(next(batches))
        except StopIteration:
            report.stop_reason = "data_exhausted"
            break
        report.tries += 1
        rollouts = sample(items)
        groups: dict[int, list[Rollout]] = {}
        for r in rollouts:
            if not 0 <= r.item_index < len(items):
                raise ValueError(f"rollout item_index {r.item_index} outside the batch of {len(items)} items")
            groups.setdefault(r.item_index, []).append(r)
        report.failed += sum(i not in groups for i in range(len(items)))  # generation failed: left out
        means = group_accuracy(rollouts, key=key)
        report.rollouts_generated += len(rollouts)
        acc_sum += math.fsum(float(r.reward[key]) for r in rollouts)
        for i, item in enumerate(items):
            if i not in groups:
                continue
            if not keep_group(means[i], low, high):
                report.dropped_all_correct += means[i] >= high
                report.dropped_all_wrong += means[i] <= low
            elif report.kept >= target_groups:
                report.surplus += 1
            else:
                out.rollouts += [replace(r, item_index=len(out.items)) for r in groups[i]]
                out.items.append(item)
                report.kept += 1
    report.accuracy_generated = acc_sum / report.rollouts_generated if report.rollouts_generated else 0.0
    return out


# ---- mixed offline / online groups ----------------------------------------------------------------
def offline_completion(
    text: str, tokenizer: Any, eos_token_ids: Sequence[int], max_tokens: int | None = None
) -> Completion:
    """An offline trajectory as an engine returns one: ``tokenizer(text, add_special_tokens=False)`` ids
    (no BOS, no chat markup) plus one EOS, ``finish_reason="stop"``, ``text`` decoded as ``HFEngine`` does.

    EasyVideoR1's offline ids lack EOS, so its policy never learns to stop there. The EOS is
    ``tokenizer.eos_token_id`` if in ``eos_token_ids`` (Qwen-VL Instruct: ``<|im_end|>``, which the chat
    template writes after every assistant turn; the processor's list is sorted, its first entry being
    ``<|endoftext|>``), else ``eos_token_ids[0]``. A text ending in an EOS gets no second one; an EOS
    before the end or a vision token is a ValueError (generation stops at EOS, never emits vision tokens).
    ``max_tokens`` cuts a longer trajectory to that many tokens, without EOS, ``finish_reason="length"``.
    """
    eos_ids = [int(e) for e in eos_token_ids]
    if not eos_ids:
        raise ValueError("eos_token_ids is empty: the offline trajectory needs an EOS token")
    if bad := [t for t in VISION_TOKENS if t in text]:
        raise ValueError(f"offline trajectory contains the vision token {bad[0]}")
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    if any(t in eos_ids for t in ids[:-1]):
        raise ValueError("offline trajectory contains an EOS token before its end")
    if not ids or ids[-1] not in eos_ids:
        ids.append(tokenizer.eos_token_id if tokenizer.eos_token_id in eos_ids else eos_ids[0])
    finish = "stop"
    if max_tokens is not None and len(ids) > max_tokens:
        ids, finish = ids[:max_tokens], "length"
    return Completion(tokenizer.decode(ids, skip_special_tokens=True), ids, finish)


class Substitution(NamedTuple):
    """``substitute_offline``'s result; ``off_policy[j]`` is True for the offline slot (for LUFFY's
    ``off_policy_mask``: concatenate the groups' lists in batch order)."""

    group: list[Completion]
    replaced: bool
    off_policy: list[bool]


def substitute_offline(
    group: list[Completion], offline: Completion, online_accuracy: float | None, threshold: float | None
) -> Substitution:
    """Replace the last slot of an online group (n >= 2) by ``offline``; a new list, inputs untouched.

    ``threshold=None``: always (EasyVideoR1's unconditional ``_mix_offline_trajectories``). Otherwise
    ``threshold ∈ [0, 1]`` and the slot is replaced only when ``online_accuracy < threshold`` (strict),
    ``online_accuracy`` being the mean accuracy of all n online responses, scored before substitution
    (EasyVideoR1's trainer-side gating). The offline slot must be scored again before training.
    """
    if len(group) < 2:
        raise ValueError(f"a mixed group needs n >= 2 online responses to replace one, got {len(group)}")
    replaced = threshold is None
    if threshold is not None:
        if not 0.0 <= _finite(threshold, "threshold") <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        if online_accuracy is None:
            raise ValueError("a threshold needs the online group's mean accuracy")
        replaced = _finite(online_accuracy, "online_accuracy") < threshold
    new = list(group[:-1]) + [offline if replaced else group[-1]]
    return Substitution(new, replaced, [False] * (len(group) - 1) + [replaced])


# ---- T-GRPO ---------------------------------------------------------------------------------------
def frame_permutation(num_frames: int, generator: np.random.Generator) -> np.ndarray:
    """A random permutation of ``range(num_frames)`` that is never the identity when ``num_frames > 1``:
    an identity draw (probability 1/T!, e.g. 1/2 for T = 2) is rolled by one, ``[T-1, 0, 1, …]``, so the
    shuffled group always sees reordered frames. (Video-R1's ``randperm`` may return the identity.)"""
    perm = np.asarray(generator.permutation(num_frames), dtype=np.int64)
    if num_frames > 1 and (perm == np.arange(num_frames)).all():
        perm = np.roll(perm, 1)
    return perm


def shuffle_frames(media: CachedMedia, generator: np.random.Generator) -> CachedMedia:
    """A copy of a video with its T frames permuted (``frames[j] = original[perm[j]]``); an image or a
    one-frame video is returned as is.

    Only the pixels move, as in Video-R1 (``video_inputs[0][randperm(T)]``): ``indices``, ``timestamps``,
    fps and ``total_frames`` stay in source order. Qwen3-VL's ``<t seconds>`` tokens come from ``indices``;
    permuting them too would give the model the true order (and non-monotonic times it never saw); kept,
    the prompt tokens are those of the ordered video, as Qwen2.5-VL's temporal position ids are.
    ``digest`` gets ``#perm=…`` so nothing keyed on it mistakes these frames for the cached ones.
    """
    if media.kind != "video" or media.num_frames < 2:
        return media
    perm = frame_permutation(media.num_frames, generator)
    return replace(media, frames=media.frames[perm], digest=f"{media.digest}#perm={'.'.join(map(str, perm))}")


def shuffle_video_items(items: Sequence, generator: np.random.Generator) -> tuple[list, list[int]]:
    """The ``data_type == "video"`` items with their video frames shuffled, and each one's position in
    ``items`` (pass it as ``temporal_group_bonus(..., shuffled_origin=...)``)."""
    out, origin = [], []
    for i, item in enumerate(items):
        if item.data_type == "video":
            if not any(m.kind == "video" for m in item.media):
                raise ValueError(f"sample {item.sample_id}: data_type video but no video media to shuffle")
            out.append(replace(item, media=[shuffle_frames(m, generator) for m in item.media]))
            origin.append(i)
    return out, origin


@dataclass
class TemporalGroupBonus:
    """``bonus[j]``: the T-GRPO term for ``ordered_rollouts[j]`` (add it to accuracy and overall);
    ``groups``: ``temporal_bonus``'s result per item index; ``metrics``: ``temporal/`` scalars."""

    bonus: np.ndarray
    groups: dict[int, TemporalBonus]
    metrics: dict[str, float]


def temporal_group_bonus(
    ordered_rollouts: Sequence[Rollout],
    shuffled_rollouts: Sequence[Rollout],
    data_type: str | Sequence[str],
    alpha: float = 0.3,
    mu: float = 0.8,
    shuffled_origin: Sequence[int] | None = None,
    key: str = "accuracy",
    bonus_mask: Sequence[bool] | None = None,
) -> TemporalGroupBonus:
    """``training.rewards.shaping.temporal_bonus`` per item group (Video-R1 T-GRPO).

    ``data_type`` is one string for every item or one per item index; anything but "video" is treated
    as Video-R1 treats an image (no bonus, metric 0.5); so is a video item whose ``bonus_mask`` entry (one
    per item index; None: all True) is False, e.g. one whose shuffled generation failed. A shuffled rollout
    belongs to item ``shuffled_origin[r.item_index]`` (identity when None). Accuracies are read before any
    bonus.
    Metrics: ``temporal/video_groups`` always; over video groups ``temporal/applied_ratio``,
    ``temporal/p_ordered``, ``temporal/p_shuffled`` (only when there is one); ``temporal/reward`` (mean of
    Video-R1's logged ``temporal_rewards``) and ``temporal/bonus_mean`` over all ordered rollouts.
    """
    ordered: dict[int, list[int]] = {}
    for j, r in enumerate(ordered_rollouts):
        ordered.setdefault(r.item_index, []).append(j)
    shuffled: dict[int, list[float]] = {}
    for r in shuffled_rollouts:
        i = r.item_index
        item = i if shuffled_origin is None else shuffled_origin[i] if 0 <= i < len(shuffled_origin) else None
        if item not in ordered:
            raise ValueError(f"shuffled rollout item_index {i} maps to no ordered group")
        shuffled.setdefault(item, []).append(r.reward[key])
    bonus = np.zeros(len(ordered_rollouts))
    groups: dict[int, TemporalBonus] = {}
    video: list[TemporalBonus] = []
    for item, rows in ordered.items():
        is_video = (data_type if isinstance(data_type, str) else data_type[item]) == "video"
        is_video = is_video and (bonus_mask is None or bool(bonus_mask[item]))
        groups[item] = result = temporal_bonus(
            [ordered_rollouts[j].reward[key] for j in rows],
            shuffled.get(item),
            data_type="video" if is_video else "image",
            alpha=alpha,
            mu=mu,
        )
        bonus[rows] = result.bonus
        video += [result] if is_video else []
    metrics = {"temporal/video_groups": float(len(video))}
    if video:
        metrics["temporal/applied_ratio"] = sum(g.applied for g in video) / len(video)
        metrics["temporal/p_ordered"] = sum(g.p for g in video) / len(video)
        metrics["temporal/p_shuffled"] = sum(g.p_shuffled for g in video) / len(video)
    if groups:
        metrics["temporal/reward"] = sum(g.metric for g in groups.values()) / len(groups)
        metrics["temporal/bonus_mean"] = float(bonus.mean())
    return TemporalGroupBonus(bonus, groups, metrics)


# ---- length shaping --------------------------------------------------------------------------------
def response_length(rollout: Rollout) -> int:
    """``L``: the response's tokens as the trainer counts them (``completion.token_ids``, EOS included when
    it was emitted: the tokens the update's response mask covers)."""
    return len(rollout.completion.token_ids)


def length_group_bonus(
    rollouts: Sequence[Rollout],
    *,
    min_length: float = 320,
    max_length: float = 512,
    bonus: float = 0.2,
    key: str = "accuracy",
) -> np.ndarray:
    """``training.rewards.shaping.length_bonus`` per item group (Video-R1 ``--len_control``), shape
    ``[len(rollouts)]``: within each ``item_index`` group, when more than one rollout has ``reward[key] >
    0.1``, those with ``min_length <= response_length <= max_length`` get ``bonus``. Accuracies are read as
    stored (the T-GRPO bonus is kept apart, under ``temporal_bonus``, as Video-R1 reads the accuracy before it).
    """
    rows: dict[int, list[int]] = {}
    for j, r in enumerate(rollouts):
        rows.setdefault(r.item_index, []).append(j)
    out = np.zeros(len(rollouts))
    for group in rows.values():
        out[group] = length_bonus(
            [rollouts[j].reward[key] for j in group],
            [response_length(rollouts[j]) for j in group],
            min_length=min_length,
            max_length=max_length,
            bonus=bonus,
        )
    return out
