"""Advantage estimators against values worked out by hand (arithmetic in the comments)."""

import math

import numpy as np
import pytest
import torch

from training.algorithms import (
    compute_advantage,
    compute_gdpo_outcome_advantage,
    compute_grpo_outcome_advantage,
    compute_grpo_passk_outcome_advantage,
    compute_reinforce_plus_plus_outcome_advantage,
    compute_remax_outcome_advantage,
    compute_rloo_outcome_advantage,
)

EPS = 1e-6


def outcome_batch(scores, lengths, T):
    """Rewards [B, T] with score i on the last response token of row i; mask [B, T] of lengths."""
    rewards = torch.zeros(len(scores), T)
    mask = torch.zeros(len(scores), T)
    for i, (s, n) in enumerate(zip(scores, lengths)):
        mask[i, :n] = 1.0
        rewards[i, n - 1] = s
    return rewards, mask


def expected_broadcast(per_row, mask):
    return torch.tensor(per_row, dtype=torch.float32).unsqueeze(-1) * mask


# --- GRPO -------------------------------------------------------------------------------------

# groups of size 1 ("solo"), 2 ("pair") and 3 ("tri"); rows interleaved, padding varies
INDEX = ["tri", "solo", "pair", "tri", "pair", "tri"]
SCORES = [3.0, 2.0, 1.0, 1.0, 0.0, 2.0]
LENGTHS = [3, 2, 1, 3, 2, 1]


def test_grpo_group_sizes_1_2_3_with_padding():
    rewards, mask = outcome_batch(SCORES, LENGTHS, T=3)
    adv, ret = compute_grpo_outcome_advantage(rewards, mask, INDEX)
    # tri: scores 3, 1, 2 -> μ = 2, unbiased σ = sqrt((1 + 1 + 0) / 2) = 1 -> ±1/(1+eps), 0
    # pair: scores 1, 0 -> μ = 0.5, σ = sqrt((0.25 + 0.25) / 1) = sqrt(0.5) -> ±0.5/(sqrt(0.5)+eps)
    # solo: μ = 0, σ = 1 (verl rule) -> 2/(1+eps)
    pair = 0.5 / (math.sqrt(0.5) + EPS)
    per_row = [1 / (1 + EPS), 2 / (1 + EPS), pair, -1 / (1 + EPS), -pair, 0.0]
    torch.testing.assert_close(adv, expected_broadcast(per_row, mask), rtol=0, atol=1e-6)
    assert torch.equal(adv, ret)
    assert torch.all(adv[mask == 0] == 0)


def test_grpo_without_std_is_dr_grpo():
    rewards, mask = outcome_batch(SCORES, LENGTHS, T=3)
    adv, _ = compute_grpo_outcome_advantage(rewards, mask, INDEX, norm_by_std=False)
    # s - μ: tri 3-2, 1-2, 2-2; pair 1-0.5, 0-0.5; solo 2-0
    per_row = [1.0, 2.0, 0.5, -1.0, -0.5, 0.0]
    torch.testing.assert_close(adv, expected_broadcast(per_row, mask), rtol=0, atol=1e-6)


def test_grpo_std_is_torch_std_and_eps_used():
    scores = [0.3, 0.9, 0.6, 0.0]
    rewards, mask = outcome_batch(scores, [2, 2, 2, 2], T=2)
    adv, _ = compute_grpo_outcome_advantage(rewards, mask, ["g"] * 4, eps=1e-4)
    s = torch.tensor(scores)
    ref = (s - s.mean()) / (torch.std(s) + 1e-4)  # torch.std is unbiased by default
    torch.testing.assert_close(adv[:, 0], ref, rtol=0, atol=1e-6)
    # identical scores: σ = 0 -> 0/(0+eps) = 0, no NaN
    rewards, mask = outcome_batch([1.0, 1.0], [1, 1], T=1)
    adv, _ = compute_grpo_outcome_advantage(rewards, mask, ["g", "g"])
    assert torch.equal(adv, torch.zeros(2, 1))


def test_grpo_cancels_a_uniform_t_grpo_bonus_and_dr_grpo_scales_by_it():
    # T-GRPO adds one bonus to every correct response of a group (benchmarks/README.md, learning.py):
    # overall = 0.9·accuracy + 0.1·format, bonus 0.9·0.3 = 0.27. Group [right, wrong, right, wrong]:
    # plain [1, 0.1, 1, 0.1]: μ = 0.55, σ = sqrt(4·0.45²/3) = 0.5196 -> ±0.45/0.5196 = ±0.8660
    # bonus [1.27, 0.1, 1.27, 0.1]: μ = 0.685, σ = sqrt(4·0.585²/3) = 0.6755 -> ±0.585/0.6755 = ±0.8660
    plain, mask = outcome_batch([1.0, 0.1, 1.0, 0.1], [2, 2, 2, 2], T=2)
    bonus, _ = outcome_batch([1.27, 0.1, 1.27, 0.1], [2, 2, 2, 2], T=2)
    a_plain, _ = compute_grpo_outcome_advantage(plain, mask, ["g"] * 4)
    a_bonus, _ = compute_grpo_outcome_advantage(bonus, mask, ["g"] * 4)
    c = math.sqrt(3) / 2
    torch.testing.assert_close(a_plain[:, 0], torch.tensor([c, -c, c, -c]), rtol=0, atol=1e-5)
    torch.testing.assert_close(a_bonus, a_plain, rtol=0, atol=1e-5)
    # without std (Dr. GRPO): ±0.45 vs ±0.585, the bonus is a 1.3x larger step for the group
    d_plain, _ = compute_grpo_outcome_advantage(plain, mask, ["g"] * 4, norm_by_std=False)
    d_bonus, _ = compute_grpo_outcome_advantage(bonus, mask, ["g"] * 4, norm_by_std=False)
    torch.testing.assert_close(d_plain[:, 0], torch.tensor([0.45, -0.45, 0.45, -0.45]), rtol=0, atol=1e-6)
    torch.testing.assert_close(d_bonus, 1.3 * d_plain, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "index",
    [torch.tensor([7, 7, 9, 9]), np.array(["a", "a", "b", "b"], dtype=object), ("x", "x", 3, 3)],
)
def test_grpo_index_types(index):
    # a tensor index must group by value: 0-d tensors hash by identity
    rewards, mask = outcome_batch([1.0, 0.0, 0.0, 1.0], [1, 1, 1, 1], T=1)
    adv, _ = compute_grpo_outcome_advantage(rewards, mask, index)
    c = 0.5 / (math.sqrt(0.5) + EPS)
    torch.testing.assert_close(adv[:, 0], torch.tensor([c, -c, -c, c]), rtol=0, atol=1e-6)


def test_grpo_bad_inputs():
    rewards, mask = outcome_batch([1.0, 0.0], [1, 1], T=1)
    with pytest.raises(ValueError, match="index has 3 entries but the batch has 2 rows"):
        compute_grpo_outcome_advantage(rewards, mask, ["a", "a", "b"])
    with pytest.raises(ValueError, match="must both be \\[B, T\\]"):
        compute_grpo_outcome_advantage(rewards, torch.ones(2, 2), ["a", "a"])
    with pytest.raises(ValueError, match="hashable"):
        compute_grpo_outcome_advantage(rewards, mask, [["a"], ["a"]])


def test_dispatch_by_name_passes_through():
    rewards, mask = outcome_batch(SCORES, LENGTHS, T=3)
    a, _ = compute_advantage("grpo", token_level_rewards=rewards, response_mask=mask, index=INDEX, gamma=1.0)
    b, _ = compute_grpo_outcome_advantage(rewards, mask, INDEX)
    assert torch.equal(a, b)


# --- pass@k -----------------------------------------------------------------------------------


def test_passk_only_best_row_nonzero():
    index = ["a"] * 4 + ["b"] * 4 + ["c"] * 3
    scores = [1, 0, 0, 0] + [0, 3, 1, 2] + [1, 1, 0]
    rewards, mask = outcome_batch([float(s) for s in scores], [2] * 11, T=3)
    adv, ret = compute_grpo_passk_outcome_advantage(rewards, mask, index)
    # a: r1 - r2 = 1 - 0; σ = sqrt((0.5625 + 3 * 0.0625) / 3) = sqrt(0.25) = 0.5 -> 1/(0.5+eps) on row 0
    # b: r1 - r2 = 3 - 2; μ = 1.5, σ = sqrt((2.25 + 2.25 + 0.25 + 0.25) / 3) = sqrt(5/3) -> row 5
    # c: tie at the top: r1 - r2 = 0 -> every row 0
    per_row = [0.0] * 11
    per_row[0] = 1 / (0.5 + EPS)
    per_row[5] = 1 / (math.sqrt(5 / 3) + EPS)
    torch.testing.assert_close(adv, expected_broadcast(per_row, mask), rtol=0, atol=1e-6)
    assert torch.equal(adv, ret)


def test_passk_needs_two_rollouts():
    rewards, mask = outcome_batch([1.0, 0.0, 1.0], [1, 1, 1], T=1)
    with pytest.raises(ValueError, match="group 'lonely' has 1"):
        compute_grpo_passk_outcome_advantage(rewards, mask, ["g", "g", "lonely"])


# --- RLOO -------------------------------------------------------------------------------------


def test_rloo_leave_one_out_baseline():
    index = ["t", "t", "t", "p", "p", "s"]
    rewards, mask = outcome_batch([4.0, 2.0, 0.0, 1.0, 0.0, 5.0], [1, 2, 3, 3, 1, 2], T=3)
    adv, ret = compute_rloo_outcome_advantage(rewards, mask, index)
    # t: 4 - (2+0)/2 = 3; 2 - (4+0)/2 = 0; 0 - (4+2)/2 = -3
    # p: 1 - 0/1 = 1; 0 - 1/1 = -1;   s (alone): baseline 0 -> 5
    per_row = [3.0, 0.0, -3.0, 1.0, -1.0, 5.0]
    torch.testing.assert_close(adv, expected_broadcast(per_row, mask), rtol=0, atol=1e-6)
    assert torch.equal(adv, ret)


# --- REINFORCE++ ------------------------------------------------------------------------------


def test_reinforce_pp_discounted_returns_then_batch_whitening():
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.0, 2.0, 9.0]])  # the 9 sits on padding
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    adv, ret = compute_reinforce_plus_plus_outcome_advantage(rewards, mask, gamma=0.5)
    # row 0: G2 = 1, G1 = 0 + 0.5*1 = 0.5, G0 = 0 + 0.5*0.5 = 0.25
    # row 1: G2 = 9 then reset (mask 0); G1 = 2 + 0.5*0 = 2; G0 = 0 + 0.5*2 = 1
    expected_returns = torch.tensor([[0.25, 0.5, 1.0], [1.0, 2.0, 0.0]])
    torch.testing.assert_close(ret, expected_returns, rtol=0, atol=1e-6)
    # whitening over the 5 response tokens {0.25, 0.5, 1, 1, 2}: μ = 4.75/5 = 0.95
    # deviations -0.7, -0.45, 0.05, 0.05, 1.05; squares sum 0.49+0.2025+0.0025+0.0025+1.1025 = 1.8
    # unbiased var = 1.8 / 4 = 0.45
    expected = (expected_returns - 0.95) / math.sqrt(0.45) * mask
    torch.testing.assert_close(adv, expected, rtol=0, atol=1e-5)
    assert adv[1, 2] == 0


def test_reinforce_pp_gamma_one():
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.0, 3.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    _, ret = compute_advantage(
        "reinforce_plus_plus", token_level_rewards=rewards, response_mask=mask, index=[0, 1]
    )
    # γ = 1: every token's return is the rest-of-response reward sum
    torch.testing.assert_close(ret, torch.tensor([[1.0, 1.0, 1.0], [3.0, 3.0, 0.0]]))


# --- ReMax ------------------------------------------------------------------------------------


def test_remax_greedy_baseline():
    rewards = torch.tensor([[0.0, 1.0], [0.5, 0.0]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    adv, ret = compute_remax_outcome_advantage(rewards, mask, reward_baselines=torch.tensor([0.25, 1.0]))
    # row 0: 1 - 0.25 = 0.75 on both tokens; row 1: 0.5 - 1 = -0.5 on its one token
    torch.testing.assert_close(adv, torch.tensor([[0.75, 0.75], [-0.5, 0.0]]))
    # returns: reverse cumulative sums of masked rewards
    torch.testing.assert_close(ret, torch.tensor([[1.0, 1.0], [0.5, 0.0]]))
    with pytest.raises(ValueError, match="reward_baselines must be"):
        compute_remax_outcome_advantage(rewards, mask, reward_baselines=torch.tensor([0.0]))


# --- GDPO -------------------------------------------------------------------------------------

GDPO_INDEX = ["a", "a", "b", "b"]
GDPO_SCORES = {"accuracy": torch.tensor([1.0, 0.0, 0.0, 1.0]), "format": [1.0, 1.0, 0.0, 1.0]}
C = 0.5 / (math.sqrt(0.5) + EPS)  # GRPO value of a {1, 0} pair


def test_gdpo_per_key_normalise_sum_whiten():
    mask = torch.ones(4, 2)
    adv, ret = compute_gdpo_outcome_advantage(GDPO_SCORES, mask, GDPO_INDEX)
    # accuracy: a {1,0} -> +C, -C ; b {0,1} -> -C, +C
    # format:   a {1,1} -> 0, 0 (σ = 0) ; b {0,1} -> -C, +C
    # sum: [C, -C, -2C, 2C], two tokens each: μ = 0, Σx² = 2(C²+C²+4C²+4C²) = 20C², var = 20C²/7
    # whitened = x / sqrt(20C²/7) -> [1, -1, -2, 2] * sqrt(7/20)
    unit = math.sqrt(7 / 20)
    torch.testing.assert_close(
        adv, expected_broadcast([unit, -unit, -2 * unit, 2 * unit], mask), rtol=0, atol=1e-5
    )
    assert torch.equal(adv, ret)


def test_gdpo_weights_and_padding():
    mask = torch.ones(4, 2)
    adv, _ = compute_gdpo_outcome_advantage(GDPO_SCORES, mask, GDPO_INDEX, weights={"format": 0.5})
    # sum: [C, -C, -1.5C, 1.5C] twice each: Σx² = 2(1 + 1 + 2.25 + 2.25)C² = 13C², var = 13C²/7
    unit = math.sqrt(7 / 13)
    torch.testing.assert_close(
        adv, expected_broadcast([unit, -unit, -1.5 * unit, 1.5 * unit], mask), rtol=0, atol=1e-5
    )

    mask = torch.tensor([[1.0, 1.0], [1.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    adv, _ = compute_gdpo_outcome_advantage(GDPO_SCORES, mask, GDPO_INDEX)
    # tokens: C, C, -C, -C, -2C, 2C, 2C (7): μ = 2C/7; whitening is token-weighted
    tokens = [1, 1, -1, -1, -2, 2, 2]
    mu = sum(tokens) / 7
    var = sum((t - mu) ** 2 for t in tokens) / 6  # in units of C², which cancel
    expected = torch.tensor(
        [[1 - mu, 1 - mu], [-1 - mu, -1 - mu], [-2 - mu, 0.0], [2 - mu, 2 - mu]]
    ) / math.sqrt(var)
    torch.testing.assert_close(adv, expected * mask, rtol=0, atol=1e-5)
    assert adv[2, 1] == 0


def test_gdpo_bad_inputs():
    mask = torch.ones(4, 1)
    with pytest.raises(ValueError, match="at least one reward key"):
        compute_gdpo_outcome_advantage({}, mask, GDPO_INDEX)
    with pytest.raises(ValueError, match="not in reward_scores: \\['lenght'\\]"):
        compute_gdpo_outcome_advantage(GDPO_SCORES, mask, GDPO_INDEX, weights={"lenght": 1.0})
    with pytest.raises(ValueError, match="'format' must have shape"):
        compute_gdpo_outcome_advantage({"format": [1.0, 0.0]}, mask, GDPO_INDEX)
