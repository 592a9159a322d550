"""Pass-rate filtering (offline) and the keep rule it shares with DAPO dynamic sampling, hand-computed."""

import doctest
import math

import numpy as np
import pytest

from training.filtering import rules as filtering
from training.filtering.rules import (
    group_pass_rates,
    keep_group,
    partial_success_mask,
    select_partial_success,
)
from training.loop import groups

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


def test_one_keep_rule_for_the_offline_filter_and_dynamic_sampling():
    assert groups.keep_group is keep_group  # dynamic sampling uses the filter's rule, not a copy
    rates = [0.0, 0.25, 0.5, 0.75, 1.0]
    assert partial_success_mask(rates, low=0.25).tolist() == [keep_group(p, low=0.25) for p in rates]
    with pytest.raises(ValueError, match="low < high"):
        keep_group(0.5, low=0.5, high=0.5)


def test_doctests():
    result = doctest.testmod(filtering)
    assert result.attempted > 0 and result.failed == 0
