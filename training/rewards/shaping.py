"""Group-level reward shaping: Video-R1's length bonus and T-GRPO temporal bonus, DAPO's overlong penalty.

Pure functions on one rollout group (the G responses to one prompt), given as lists or 1-D NumPy
arrays; each returns per-response float64 terms to add to the reward. Notation: ``a_i`` accuracy
of response ``i`` (before any bonus), ``L_i`` its length in tokens counted as the trainer counts
them (Video-R1 ``completion_mask.sum(1)`` and verl ``attention_mask[prompt_len:].sum()`` both
include the EOS token).

Where each rule comes from (the code, not the papers). Video-R1 was read at
HarryHsing/Video-R1@3585689: the stored tulerfeng/Video-R1 snapshot predates T-GRPO, and the T-GRPO
condition below appears verbatim in the other stored copies of the file.

- ``length_bonus``: Video-R1 ``--len_control`` (``src/r1-v/src/open_r1/trainer/grpo_trainer.py``,
  ``compute_loss``)::

      mask = rewards_per_func[:, 0] > 0.1            # column 0 = accuracy, before the temporal bonus
      selected_indices = torch.nonzero(mask, as_tuple=True)[0].tolist()
      if len(selected_indices) > 1:
          for idx in selected_indices:
              if 320 <= lenth_list[idx] <= 512: rewards[idx] += 0.2

  added to the *total* reward (accuracy + format + temporal), for images and videos alike.
- ``temporal_bonus``: Video-R1 T-GRPO (same function, video samples with ``--temporal``)::

      if acc_mean >= 0.8 * shuffled_acc_mean:
          mask = temporal_rewards_per_func[:, 0] > 0.1
          temporal_rewards_per_func[mask, 0] += 0.3   # added to the accuracy column
          temporal_rewards = 1.0                      # logged metric
      else: temporal_rewards = 0.0
      # images: temporal_rewards = 0.5, no bonus

- ``overlong_penalty``: DAPO soft overlong punishment, verl ``verl/workers/reward_manager/dapo.py``
  (``DAPORewardManager.__call__``)::

      expected_len = max_resp_len - overlong_buffer_len
      exceed_len = valid_response_length - expected_len
      overlong_reward = min(-exceed_len / overlong_buffer_len * penalty_factor, 0)

In training (``training.loop.experience.ExperienceMaker``): ``algorithm.temporal`` adds the temporal bonus,
``worker.reward.overlong_buffer.enable`` the overlong penalty (``max_response_length`` is
``worker.rollout.max_new_tokens``) and ``worker.reward.length_bonus.enable`` the length bonus, each to the
``overall`` reward before advantages; ``accuracy``, which the filters read, is never changed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ArrayLike = Sequence[float] | np.ndarray


def _vector(values: ArrayLike, name: str, *, nonnegative: bool = False) -> np.ndarray:
    """``values`` as a finite 1-D float64 array, else ValueError naming the argument."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a 1-D sequence of numbers: {err}") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per response), got shape {array.shape}")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise ValueError(f"{name} must be finite; index {int(bad[0])} is {array[bad[0]]}")
    if nonnegative and (array < 0).any():
        index = int(np.flatnonzero(array < 0)[0])
        raise ValueError(f"{name} must be >= 0; index {index} is {array[index]}")
    return array


def _number(value: float, name: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return float(value)


def length_bonus(
    accuracies: ArrayLike,
    lengths: ArrayLike,
    *,
    correct_above: float = 0.1,
    min_length: float = 320,
    max_length: float = 512,
    bonus: float = 0.2,
) -> np.ndarray:
    """Video-R1's ``--len_control`` bonus per response (shape ``[G]``).

    ``correct_i = a_i > correct_above``; when more than one response is correct,
    ``bonus_i = bonus`` if ``correct_i`` and ``min_length <= L_i <= max_length`` (both inclusive),
    else 0; when at most one is correct, every ``bonus_i = 0``. Defaults are Video-R1's
    (0.1, 320, 512, 0.2). Video-R1 adds it to the total reward and reads the accuracy before the
    T-GRPO bonus; pass the same accuracies to match it.

    >>> length_bonus([1.0, 1.0, 0.0, 1.0], [400, 600, 400, 320]).tolist()
    [0.2, 0.0, 0.0, 0.2]
    >>> length_bonus([1.0, 0.0], [400, 400]).tolist()  # one correct response: no bonus
    [0.0, 0.0]
    """
    acc = _vector(accuracies, "accuracies")
    length = _vector(lengths, "lengths", nonnegative=True)
    if acc.shape != length.shape:
        raise ValueError(f"accuracies and lengths differ in length: {acc.size} vs {length.size}")
    threshold = _number(correct_above, "correct_above")
    low, high = _number(min_length, "min_length"), _number(max_length, "max_length")
    if low > high:
        raise ValueError(f"min_length {low} must be <= max_length {high}")
    size = _number(bonus, "bonus")
    correct = acc > threshold
    if correct.sum() <= 1:
        return np.zeros_like(acc)
    return np.where(correct & (length >= low) & (length <= high), size, 0.0)


def overlong_penalty(
    lengths: ArrayLike,
    *,
    max_response_length: int,
    overlong_buffer_len: int,
    penalty_factor: float = 1.0,
) -> np.ndarray:
    """DAPO's soft overlong punishment per response (shape ``[G]``, values <= 0).

    ``expected = max_response_length - overlong_buffer_len`` and
    ``penalty_i = min(-(L_i - expected) / overlong_buffer_len * penalty_factor, 0)``: 0 up to
    ``expected`` tokens, then linear down to ``-penalty_factor`` at ``max_response_length``
    (verl's formula, not clipped below: a length past ``max_response_length``, which generation
    never produces, goes below ``-penalty_factor``; the paper's hard ``-1`` is not applied).
    ``penalty_factor=1.0`` as in verl's DAPO recipes. verl only warns when the buffer exceeds the
    maximum length (every length is then penalised); here that is a ValueError.

    >>> overlong_penalty([100, 768, 896, 1024], max_response_length=1024, overlong_buffer_len=256).tolist()
    [0.0, 0.0, -0.5, -1.0]
    """
    length = _vector(lengths, "lengths", nonnegative=True)
    max_len = _number(max_response_length, "max_response_length", positive=True)
    buffer = _number(overlong_buffer_len, "overlong_buffer_len", positive=True)
    factor = _number(penalty_factor, "penalty_factor")
    if factor < 0:
        raise ValueError(f"penalty_factor must be >= 0, got {factor}")
    if buffer > max_len:
        raise ValueError(
            f"overlong_buffer_len {buffer:g} exceeds max_response_length {max_len:g}: every response "
            "would be penalised; use a buffer at most the maximum length"
        )
    expected = max_len - buffer
    return np.minimum(-(length - expected) / buffer * factor, 0.0) + 0.0  # + 0.0 turns -0.0 into 0.0


@dataclass(frozen=True)
class TemporalBonus:
    """``temporal_bonus``'s result.

    ``bonus``: per ordered response, to add to its accuracy (shape ``[G]``); ``p`` / ``p_shuffled``:
    mean accuracy of the ordered / shuffled group (``p_shuffled`` is None when no shuffled group
    was given, as for images); ``applied``: the condition ``p >= mu * p_shuffled`` held on a video;
    ``metric``: Video-R1's logged ``temporal_rewards`` (1.0 applied, 0.0 not, 0.5 for an image).
    """

    bonus: np.ndarray
    p: float
    p_shuffled: float | None
    applied: bool
    metric: float


def temporal_bonus(
    ordered_accuracies: ArrayLike,
    shuffled_accuracies: ArrayLike | None,
    *,
    data_type: str = "video",
    alpha: float = 0.3,
    mu: float = 0.8,
    correct_above: float = 0.1,
) -> TemporalBonus:
    """Video-R1's T-GRPO bonus from the ordered group and the shuffled-frame group.

    ``p = mean(a)`` over the ordered responses, ``p~ = mean(a~)`` over the shuffled ones (Video-R1
    samples G/2 of them, which are scored but not trained on). For a video,
    ``applied = p >= mu * p~`` and ``bonus_i = alpha`` if ``applied`` and ``a_i > correct_above``,
    else 0. An image gets no bonus (its shuffled group may be None or empty). Note that
    ``p = p~ = 0`` counts as applied (``0 >= 0``) yet gives no bonus, since no ``a_i > 0.1``.
    Defaults are Video-R1's (alpha 0.3, mu 0.8; its maintainer suggests mu = 1.0, Video-R1 #43).

    >>> result = temporal_bonus([1.0, 0.0, 0.5, 0.0], [0.0, 0.5])
    >>> result.bonus.tolist(), result.p, result.p_shuffled, result.applied
    ([0.3, 0.0, 0.3, 0.0], 0.375, 0.25, True)
    """
    acc = _vector(ordered_accuracies, "ordered_accuracies")
    if acc.size == 0:
        raise ValueError("ordered_accuracies is empty: the bonus needs at least one ordered response")
    shuffled = None if shuffled_accuracies is None else _vector(shuffled_accuracies, "shuffled_accuracies")
    alpha, mu = _number(alpha, "alpha"), _number(mu, "mu")
    threshold = _number(correct_above, "correct_above")
    p = float(acc.mean())
    p_shuffled = float(shuffled.mean()) if shuffled is not None and shuffled.size else None
    if data_type == "image":
        return TemporalBonus(np.zeros_like(acc), p, p_shuffled, applied=False, metric=0.5)
    if data_type != "video":
        raise ValueError(f"data_type must be 'video' or 'image', got {data_type!r}")
    if p_shuffled is None:
        raise ValueError("a video needs a non-empty shuffled_accuracies group for the temporal bonus")
    applied = p >= mu * p_shuffled
    bonus = np.where(acc > threshold, alpha, 0.0) if applied else np.zeros_like(acc)
    return TemporalBonus(bonus, p, p_shuffled, applied=applied, metric=1.0 if applied else 0.0)
