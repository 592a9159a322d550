"""Pass-rate filtering (offline) and DAPO dynamic sampling (online), hand-computed."""

import doctest
import math

import numpy as np
import pytest

from training import filtering
from training.filtering import (
    dynamic_sampling_keep,
    group_mean_accuracy,
    group_pass_rates,
    partial_success_mask,
    select_partial_success,
)

# k = 4 rollouts each: a solved 3/4, b never, c always
IDS = ["a", "b", "c", "a", "b", "c", "a", "b", "c", "a", "b", "c"]
ACCS = [1, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 1]


def test_pass_rates_binary():
    assert group_pass_rates(IDS, ACCS) == {"a": 0.75, "b": 0.0, "c": 1.0}
    assert list(group_pass_rates(IDS, ACCS)) == ["a", "b", "c"]  # first-seen order


def test_pass_rates_graded_threshold():
    # IoU-style accuracy with success at >= 0.5: 0.6 yes, 0.4 no, 0.5 yes (inclusive), 0.49 no -> 2/4
    assert group_pass_rates(["q"] * 4, [0.6, 0.4, 0.5, 0.49], success_threshold=0.5) == {"q": 0.5}
    # the default threshold 1.0 counts none of them
    assert group_pass_rates(["q"] * 4, [0.6, 0.4, 0.5, 0.49]) == {"q": 0.0}


def test_partial_success_mask_is_strict():
    assert partial_success_mask([0.75, 0.0, 1.0]).tolist() == [True, False, False]
    # low=0.25: p = 0.25 is not kept (strict), 0.5 is; high=0.75: p = 0.75 is not kept
    assert partial_success_mask(np.array([0.25, 0.5, 0.75]), low=0.25, high=0.75).tolist() == [
        False,
        True,
        False,
    ]
    with pytest.raises(ValueError, match="low < high"):
        partial_success_mask([0.5], low=0.6, high=0.4)


def test_select_partial_success():
    assert select_partial_success(IDS, ACCS) == ["a"]
    assert select_partial_success(IDS, ACCS, low=-0.1) == ["a", "b"]  # widen to keep never-solved


def test_bad_rollout_inputs_are_named():
    with pytest.raises(ValueError, match="expected 4 rollouts per sample; got 'a': 3"):
        group_pass_rates(IDS[:-3] + ["b", "c"], ACCS[:-3] + [0, 1], expected_k=4)
    with pytest.raises(ValueError, match="rollout 2 of sample 'c' has accuracy nan"):
        group_pass_rates(["a", "b", "c"], [1.0, 0.0, math.nan])
    with pytest.raises(ValueError, match="got 3 ids but 2 accuracies"):
        group_pass_rates(["a", "b", "c"], [1.0, 0.0])


def test_dynamic_sampling_keep_strict_bounds():
    group_ids = ["g1", "g2", "g3"] * 4
    accs = [1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 0]  # g1 mean 1, g2 mean 1/4, g3 mean 0
    keep = dynamic_sampling_keep(group_ids, accs)
    assert keep.dtype == bool
    assert keep.tolist() == [False, True, False] * 4
    assert group_mean_accuracy(group_ids, accs) == {"g1": 1.0, "g2": 0.25, "g3": 0.0}
    # strict: low = 0.25 drops g2 (mean exactly 0.25)
    assert not dynamic_sampling_keep(group_ids, accs, low=0.25).any()
    with pytest.raises(ValueError, match="low < high"):
        dynamic_sampling_keep(group_ids, accs, low=0.5, high=0.5)


def test_filter_on_accuracy_not_overall():
    # all-wrong but well-formatted group: accuracy 0, overall = 0.9 * acc + 0.1 * format = 0.1
    group_ids = ["g"] * 4
    accuracy = [0.0] * 4
    overall = [0.1] * 4
    assert dynamic_sampling_keep(group_ids, overall).all()  # the trap: 0.01 < 0.1 < 0.99
    assert not dynamic_sampling_keep(group_ids, accuracy).any()  # no learning signal: dropped


def test_doctests():
    result = doctest.testmod(filtering)
    assert result.attempted > 0 and result.failed == 0
