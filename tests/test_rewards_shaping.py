"""Group-level shaping: Video-R1 length bonus and T-GRPO bonus, DAPO overlong penalty (hand-computed)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.rewards.shaping import TemporalBonus, length_bonus, overlong_penalty, temporal_bonus


# -- length bonus (Video-R1 --len_control) ---------------------------------------------------------------
@pytest.mark.parametrize(
    "accuracies, lengths, expected",
    [
        ([1.0, 1.0, 0.0, 1.0], [400, 600, 400, 320], [0.2, 0.0, 0.0, 0.2]),
        ([1, 1, 1, 1], [319, 320, 512, 513], [0.0, 0.2, 0.2, 0.0]),  # both bounds inclusive
        ([1.0, 0.0, 0.0], [400, 400, 400], [0.0, 0.0, 0.0]),  # one correct response: no bonus
        ([0.1, 0.1, 0.11, 0.11], [400] * 4, [0.0, 0.0, 0.2, 0.2]),  # correct means accuracy > 0.1
        ([0.1, 0.11], [400, 400], [0.0, 0.0]),  # so only one is correct here
        ([0.5, 0.5], [400.0, 400.0], [0.2, 0.2]),  # every response correct: all get it
        ([], [], []),
    ],
)
def test_length_bonus_video_r1_rule(accuracies, lengths, expected):
    result = length_bonus(accuracies, lengths)
    assert result.dtype == np.float64
    assert result.tolist() == expected


def test_length_bonus_is_configurable():
    result = length_bonus(
        np.array([0.6, 0.6, 0.4, 0.6]),
        np.array([10, 21, 15, 20]),
        correct_above=0.5,
        min_length=10,
        max_length=20,
        bonus=1.0,
    )
    assert result.tolist() == [1.0, 0.0, 0.0, 1.0]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"accuracies": [1, 1], "lengths": [400]}, "differ in length: 2 vs 1"),
        ({"accuracies": [1, float("nan")], "lengths": [1, 2]}, "accuracies must be finite; index 1"),
        ({"accuracies": [1, 1], "lengths": [1, -2]}, "lengths must be >= 0; index 1"),
        ({"accuracies": [[1, 1]], "lengths": [[1, 1]]}, r"must be 1-D .* shape \(1, 2\)"),
        ({"accuracies": ["a"], "lengths": [1]}, "accuracies must be a 1-D sequence of numbers"),
        ({"accuracies": [1], "lengths": [1], "min_length": 600}, "min_length 600.0 must be <= max_length"),
        ({"accuracies": [1], "lengths": [1], "bonus": float("inf")}, "bonus must be a finite number"),
        ({"accuracies": [1], "lengths": [1], "correct_above": True}, "correct_above must be a finite"),
    ],
)
def test_length_bonus_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        length_bonus(**kwargs)


# -- overlong penalty (DAPO, verl DAPORewardManager) -------------------------------------------------------
@pytest.mark.parametrize(
    "lengths, kwargs, expected",
    [
        # expected = 1024 - 256 = 768: 0 up to 768, then -(L - 768)/256
        ([0, 767, 768, 800, 896, 1024], {}, [0.0, 0.0, 0.0, -0.125, -0.5, -1.0]),
        ([896, 1024], {"penalty_factor": 0.5}, [-0.25, -0.5]),
        ([1152], {}, [-1.5]),  # past the maximum: verl does not clip at -penalty_factor
        ([1024], {"penalty_factor": 0.0}, [0.0]),
        ([0, 512], {"overlong_buffer_len": 1024}, [0.0, -0.5]),  # buffer = whole length: expected 0
    ],
)
def test_overlong_penalty_matches_verl(lengths, kwargs, expected):
    args = {"max_response_length": 1024, "overlong_buffer_len": 256, **kwargs}
    result = overlong_penalty(lengths, **args)
    assert result.tolist() == expected
    assert not np.signbit(result[result == 0]).any()  # 0.0, never -0.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"overlong_buffer_len": 0}, "overlong_buffer_len must be > 0"),
        ({"overlong_buffer_len": 2048}, "overlong_buffer_len 2048 exceeds max_response_length 1024"),
        ({"max_response_length": -1}, "max_response_length must be > 0"),
        ({"penalty_factor": -1.0}, "penalty_factor must be >= 0"),
        ({"penalty_factor": float("nan")}, "penalty_factor must be a finite number"),
        ({"lengths": [1, float("inf")]}, "lengths must be finite; index 1"),
    ],
)
def test_overlong_penalty_rejects_bad_arguments(kwargs, message):
    args = {"lengths": [1, 2], "max_response_length": 1024, "overlong_buffer_len": 256, **kwargs}
    with pytest.raises(ValueError, match=message):
        overlong_penalty(**args)


# -- temporal bonus (Video-R1 T-GRPO) ------------------------------------------------------------------
@pytest.mark.parametrize(
    "ordered, shuffled, kwargs, bonus, p, p_shuffled, applied",
    [
        ([1.0, 0.0, 0.5, 0.0], [0.0, 0.5], {}, [0.3, 0.0, 0.3, 0.0], 0.375, 0.25, True),
        ([0.25, 0.25], [1.0, 1.0], {}, [0.0, 0.0], 0.25, 1.0, False),  # 0.25 < 0.8
        ([0.5, 0.5], [1.0, 1.0], {"mu": 0.5}, [0.3, 0.3], 0.5, 1.0, True),  # p = mu p~: >= applies
        ([0.1, 0.25, 1.0], [0.0], {}, [0.0, 0.3, 0.3], 0.45, 0.0, True),  # accuracy must exceed 0.1
        ([0.0, 0.0], [0.0, 0.0], {}, [0.0, 0.0], 0.0, 0.0, True),  # 0 >= 0: applied, nobody gets it
        ([1.0, 0.0], [1.0], {"alpha": 1.0, "mu": 0.5}, [1.0, 0.0], 0.5, 1.0, True),
        ([0.5, 0.5], [0.25], {"correct_above": 0.5}, [0.0, 0.0], 0.5, 0.25, True),
    ],
)
def test_temporal_bonus_video(ordered, shuffled, kwargs, bonus, p, p_shuffled, applied):
    result = temporal_bonus(ordered, shuffled, **kwargs)
    assert isinstance(result, TemporalBonus)
    assert result.bonus.tolist() == bonus
    assert (result.p, result.p_shuffled, result.applied) == (p, p_shuffled, applied)
    assert result.metric == (1.0 if applied else 0.0)


@pytest.mark.parametrize("shuffled, p_shuffled", [(None, None), ([], None), ([1.0, 0.0], 0.5)])
def test_temporal_bonus_image_gets_none(shuffled, p_shuffled):
    result = temporal_bonus([1.0, 0.0], shuffled, data_type="image")
    assert result.bonus.tolist() == [0.0, 0.0]
    assert (result.p, result.p_shuffled, result.applied, result.metric) == (0.5, p_shuffled, False, 0.5)


@pytest.mark.parametrize(
    "ordered, shuffled, kwargs, message",
    [
        ([1.0], None, {}, "a video needs a non-empty shuffled_accuracies"),
        ([1.0], [], {}, "a video needs a non-empty shuffled_accuracies"),
        ([], [1.0], {}, "ordered_accuracies is empty"),
        ([1.0], [1.0], {"data_type": "audio"}, "data_type must be 'video' or 'image', got 'audio'"),
        ([1.0], [float("nan")], {}, "shuffled_accuracies must be finite; index 0"),
        ([1.0], [1.0], {"alpha": "0.3"}, "alpha must be a finite number"),
    ],
)
def test_temporal_bonus_rejects_bad_arguments(ordered, shuffled, kwargs, message):
    with pytest.raises(ValueError, match=message):
        temporal_bonus(ordered, shuffled, **kwargs)


# -- properties ----------------------------------------------------------------------------------------
_ACC = st.floats(0.0, 1.0)
_LEN = st.integers(0, 4096)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_ACC, _LEN), max_size=16))
def test_length_bonus_values_are_zero_or_bonus(pairs):
    acc, length = [a for a, _ in pairs], [n for _, n in pairs]
    result = length_bonus(acc, length)
    assert result.shape == (len(pairs),)
    assert set(result.tolist()) <= {0.0, 0.2}
    assert all(bonus == 0.0 for bonus, a in zip(result.tolist(), acc) if a <= 0.1)


@settings(max_examples=60, deadline=None)
@given(st.lists(_LEN, max_size=16), st.floats(0.0, 4.0))
def test_overlong_penalty_is_nonpositive_and_monotone(lengths, factor):
    result = overlong_penalty(
        sorted(lengths), max_response_length=4096, overlong_buffer_len=1024, penalty_factor=factor
    )
    assert (result <= 0).all() and (result >= -factor - 1e-12).all()
    assert (np.diff(result) <= 0).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(_ACC, min_size=1, max_size=8), st.lists(_ACC, min_size=1, max_size=4))
def test_temporal_bonus_only_rewards_correct_ordered_responses(ordered, shuffled):
    result = temporal_bonus(ordered, shuffled)
    expected = [0.3 if result.applied and a > 0.1 else 0.0 for a in ordered]
    assert result.bonus.tolist() == expected
    assert result.applied == (np.mean(ordered) >= 0.8 * np.mean(shuffled))
