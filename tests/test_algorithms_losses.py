"""Masked reductions, aggregation modes and policy losses against hand-computed values."""

import math

import pytest
import torch

from training.algorithms import (
    agg_loss,
    compute_cispo_loss,
    compute_gspo_loss,
    compute_gspo_token_loss,
    compute_ppo_loss,
    masked_mean,
    masked_var,
    masked_whiten,
)
from training.algorithms.luffy import compute_luffy_loss
from training.algorithms.registry import get_policy_loss

VALUES = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
MASK = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # kept: 1, 2 | 4


# --- masked reductions ------------------------------------------------------------------------


def test_masked_mean_var_whiten():
    # (1 + 2 + 4) / 3 = 7/3 ; per row: (1+2)/2 = 1.5, 4/1 = 4
    torch.testing.assert_close(masked_mean(VALUES, MASK), torch.tensor(7 / 3))
    torch.testing.assert_close(masked_mean(VALUES, MASK, dim=-1), torch.tensor([1.5, 4.0]))
    # deviations from 7/3: -4/3, -1/3, 5/3 -> squares 16/9 + 1/9 + 25/9 = 42/9
    # biased 42/27 = 14/9; unbiased 42/18 = 7/3
    torch.testing.assert_close(masked_var(VALUES, MASK, unbiased=False), torch.tensor(14 / 9))
    torch.testing.assert_close(masked_var(VALUES, MASK), torch.tensor(7 / 3))
    white = masked_whiten(VALUES, MASK)
    torch.testing.assert_close(white, (VALUES - 7 / 3) / math.sqrt(7 / 3))
    torch.testing.assert_close(
        masked_whiten(VALUES, MASK, shift_mean=False), (VALUES - 7 / 3) / math.sqrt(7 / 3) + 7 / 3
    )
    # bool masks work, and an all-padding row averages to 0, not NaN
    torch.testing.assert_close(
        masked_mean(VALUES, torch.tensor([[True, False, False], [False] * 3]), dim=-1),
        torch.tensor([1.0, 0.0]),
    )
    # one element: no Bessel correction possible -> variance 0
    assert masked_var(VALUES, torch.tensor([[1.0, 0, 0], [0, 0, 0]])).item() == 0.0


# --- aggregation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("token-mean", 7 / 3),  # (1 + 2 + 4) / 3 tokens
        ("token", 7 / 3),  # EasyR1 alias
        ("seq-mean-token-mean", 2.75),  # mean(3/2, 4/1) = (1.5 + 4) / 2
        ("seq", 2.75),  # EasyR1 alias
        ("seq-mean-token-sum", 3.5),  # mean(1+2, 4) = (3 + 4) / 2
        ("seq-mean-token-sum-norm", 7 / 6),  # mean(3/T, 4/T) with T = 3 -> (1 + 4/3) / 2
    ],
)
def test_agg_modes(mode, expected):
    torch.testing.assert_close(agg_loss(VALUES, MASK, mode), torch.tensor(expected))


def test_agg_sum_norm_scale_factor_and_errors():
    # constant divisor 2: mean(3/2, 4/2) = 1.75
    torch.testing.assert_close(
        agg_loss(VALUES, MASK, "seq-mean-token-sum-norm", loss_scale_factor=2), torch.tensor(1.75)
    )
    with pytest.raises(ValueError, match="unknown loss aggregation mode 'mean'; allowed: token-mean"):
        agg_loss(VALUES, MASK, "mean")
    with pytest.raises(ValueError, match="same shape"):
        agg_loss(VALUES, MASK[:, :2], "token-mean")


# --- PPO / DAPO clip --------------------------------------------------------------------------

# (advantage, ratio) per token; row 1's last token is padding with extreme values
#   t0 A=+1 r=1.1   inside the clip range            -> -1.1
#   t1 A=+1 r=1.5   above 1+0.28: clip-higher bound  -> max(-1.5, -1.28) = -1.28
#   t2 A=-1 r=0.5   below 1-0.2: lower PPO bound     -> max(0.5, 0.8) = 0.8
#   t3 A=-1 r=5.0   dual clip (c = 3)                -> min(max(5, 1.28), 3) = 3
#   t4 A=+2 r=0.5   A>0, low ratio: unclipped kept   -> max(-1, -1.6) = -1
#   t5 A=-2 r=2.0   A<0, r < c: unclipped kept       -> min(max(4, 2.56), 6) = 4
#   t6 A=+1 r=1.25  inside [0.8, 1.28]               -> -1.25 (clipped to -1.2 with ε_high=0.2)
ADV = torch.tensor([[1.0, 1.0, -1.0, -1.0], [2.0, -2.0, 1.0, 5.0]])
RATIO = torch.tensor([[1.1, 1.5, 0.5, 5.0], [0.5, 2.0, 1.25, 10.0]])
PPO_MASK = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0]])
OLD = torch.full((2, 4), -1.0)


def ppo_inputs():
    log_probs = (OLD + RATIO.log()).clone().requires_grad_(True)
    return OLD, log_probs, ADV, PPO_MASK


def test_ppo_dapo_clip_and_dual_clip_branches():
    old, logp, adv, mask = ppo_inputs()
    loss, metrics = compute_ppo_loss(
        old, logp, adv, mask, clip_ratio_low=0.2, clip_ratio_high=0.28, clip_ratio_c=3.0
    )
    # token-mean over 7 tokens: (-1.1 - 1.28 + 0.8 + 3 - 1 + 4 - 1.25) / 7 = 3.17 / 7
    torch.testing.assert_close(loss, torch.tensor(3.17 / 7))
    # PPO bound active on t1, t2; upper bound on t1; dual clip on t3
    assert metrics["clipfrac"] == pytest.approx(2 / 7)
    assert metrics["clipfrac_high"] == pytest.approx(1 / 7)
    assert metrics["clipfrac_dual"] == pytest.approx(1 / 7)
    # ppo_kl = mean(old - logp) = -ln(1.1 * 1.5 * 0.5 * 5 * 0.5 * 2 * 1.25) / 7 = -ln(5.15625) / 7
    assert metrics["ppo_kl"] == pytest.approx(-math.log(5.15625) / 7, abs=1e-6)
    assert metrics["ratio_mean"] == pytest.approx((1.1 + 1.5 + 0.5 + 5 + 0.5 + 2 + 1.25) / 7, abs=1e-6)
    loss.backward()
    # d(-A r)/dlogp = -A r on unclipped tokens, 0 where a bound (clip or dual) is active; / 7 tokens
    expected_grad = torch.tensor([[-1.1, 0.0, 0.0, 0.0], [-1.0, 4.0, -1.25, 0.0]]) / 7
    torch.testing.assert_close(logp.grad, expected_grad)


def test_ppo_symmetric_clip_vs_clip_higher():
    old, logp, adv, mask = ppo_inputs()
    loss, metrics = compute_ppo_loss(old, logp, adv, mask, clip_ratio_low=0.2, clip_ratio_high=0.2)
    # with 1+ε_high = 1.2: t1 -> -1.2 (was -1.28), t6 -> -1.2 (was -1.25): 3.17 + 0.08 + 0.05 = 3.30
    torch.testing.assert_close(loss, torch.tensor(3.30 / 7))
    assert metrics["clipfrac"] == pytest.approx(3 / 7)  # t1, t2, t6


def test_ppo_seq_mean_aggregation():
    old, logp, adv, mask = ppo_inputs()
    loss, _ = compute_ppo_loss(
        old, logp, adv, mask, clip_ratio_high=0.28, loss_agg_mode="seq-mean-token-mean"
    )
    # row 0: (-1.1 - 1.28 + 0.8 + 3) / 4 = 0.355 ; row 1: (-1 + 4 - 1.25) / 3 = 1.75 / 3
    torch.testing.assert_close(loss, torch.tensor((0.355 + 1.75 / 3) / 2))


@pytest.mark.parametrize("name", ["ppo", "gspo", "gspo_token", "cispo", "luffy", "luffy_no_clip"])
def test_extreme_log_ratio_is_clamped_so_loss_gradient_and_metrics_stay_finite(name):
    """A log-ratio of 100: exp overflows float32 (exp(30) would not), so only the ±20 clamp keeps the
    unclipped ratio, its gradient (0 · inf = NaN through max/min) and ``ratio_mean`` finite."""
    old = torch.zeros(1, 2)
    logp = torch.tensor([[100.0, 100.0]], requires_grad=True)
    adv = torch.tensor([[-1.0, 1.0]])
    mask = torch.ones(1, 2)
    if name.startswith("luffy"):
        loss, metrics = compute_luffy_loss(old, logp, adv, mask, loss_remove_clip=name == "luffy_no_clip")
    else:
        loss, metrics = get_policy_loss(name)(old, logp, adv, mask)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logp.grad).all()
    assert metrics["ratio_mean"] == pytest.approx(math.exp(20.0), rel=1e-6)
    if name == "ppo":  # t0: dual clip -> 3 ; t1: clipped at 1 + 0.3 (EasyR1 default) -> -1.3
        torch.testing.assert_close(loss, torch.tensor((3.0 - 1.3) / 2))
    if name == "luffy_no_clip":  # -A · exp(20) per token: e20 - e20 = 0
        torch.testing.assert_close(loss, torch.tensor(0.0))


def test_ppo_bad_arguments():
    old, logp, adv, mask = ppo_inputs()
    with pytest.raises(ValueError, match="clip_ratio_c"):
        compute_ppo_loss(old, logp, adv, mask, clip_ratio_c=1.0)
    with pytest.raises(ValueError, match="must all be \\[B, T\\]"):
        compute_ppo_loss(old, logp, adv[:, :2], mask)


# --- GSPO -------------------------------------------------------------------------------------

GSPO_OLD = torch.zeros(2, 3)
GSPO_LOG_RATIO = torch.tensor([[0.1, -0.1, 0.3], [0.0, 0.0004, 5.0]])  # row 1, t2 is padding
GSPO_MASK = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
# token-varying advantages on row 1 so gspo and gspo_token gradients differ
GSPO_ADV = torch.tensor([[1.0, 1.0, 1.0], [-1.0, -3.0, -3.0]])


@pytest.mark.parametrize("fn", [compute_gspo_loss, compute_gspo_token_loss])
def test_gspo_value_and_clip(fn):
    logp = GSPO_LOG_RATIO.clone().requires_grad_(True)
    loss, metrics = fn(GSPO_OLD, logp, GSPO_ADV, GSPO_MASK)
    # row 0: log s = (0.1 - 0.1 + 0.3)/3 = 0.1 -> s = e^0.1 > 1 + 4e-4 -> clipped: -1 * 1.0004 per token
    # row 1: log s = (0 + 0.0004)/2 = 0.0002, inside [1-3e-4, 1+4e-4]: token losses e^0.0002 and 3 e^0.0002
    # seq-mean-token-mean: (-1.0004 + (1 + 3)/2 * e^0.0002) / 2
    s1 = math.exp(0.0002)
    torch.testing.assert_close(loss, torch.tensor((-1.0004 + 2 * s1) / 2), rtol=0, atol=1e-6)
    assert metrics["clipfrac"] == pytest.approx(3 / 5)  # all of row 0's 3 tokens, of 5


def test_gspo_vs_gspo_token_gradients():
    s1 = math.exp(0.0002)
    logp = GSPO_LOG_RATIO.clone().requires_grad_(True)
    compute_gspo_loss(GSPO_OLD, logp, GSPO_ADV, GSPO_MASK)[0].backward()
    # gspo: row-1 term = (1·s + 3·s)/2 = 2s, ds/dlogp_t = s/|y| = s/2 -> 2 * s/2 = s; times 1/2 (batch)
    # row 0 is clipped: gradient 0
    torch.testing.assert_close(logp.grad, torch.tensor([[0.0, 0.0, 0.0], [s1 / 2, s1 / 2, 0.0]]))

    logp = GSPO_LOG_RATIO.clone().requires_grad_(True)
    compute_gspo_token_loss(GSPO_OLD, logp, GSPO_ADV, GSPO_MASK)[0].backward()
    # gspo_token: row-1 term = (1·s_0 + 3·s_1)/2 with ds_t/dlogp_t = s -> s/2 and 3s/2; times 1/2
    torch.testing.assert_close(logp.grad, torch.tensor([[0.0, 0.0, 0.0], [s1 / 4, 3 * s1 / 4, 0.0]]))


# --- CISPO ------------------------------------------------------------------------------------


def test_cispo_clipped_weight_keeps_gradient():
    old = torch.tensor([[-1.0, -1.9, 0.0]])
    logp = torch.tensor([[-0.5, -2.0, -7.0]], requires_grad=True)  # t2 is padding
    adv = torch.tensor([[1.0, -2.0, 4.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    loss, metrics = compute_cispo_loss(old, logp, adv, mask, clip_ratio_high=0.28)
    # t0: r = e^0.5 = 1.6487 -> weight clipped to 1.28: -1 * 1.28 * (-0.5) = 0.64
    # t1: r = e^-0.1, no lower bound (default): -(-2) * e^-0.1 * (-2.0) = -4 e^-0.1
    w1 = math.exp(-0.1)
    torch.testing.assert_close(loss, torch.tensor((0.64 - 4 * w1) / 2))
    assert metrics["clipfrac"] == pytest.approx(0.5)
    loss.backward()
    # gradient -A·w / 2 on every token, clipped or not (the weight is detached)
    torch.testing.assert_close(logp.grad, torch.tensor([[-1.28 / 2, 2 * w1 / 2, 0.0]]))

    # EasyR1's example clip_ratio_low=0 floors the weight at 1: t1 -> -(-2) * 1 * (-2) = -4
    loss, metrics = compute_cispo_loss(old, logp, adv, mask, clip_ratio_low=0.0, clip_ratio_high=0.28)
    torch.testing.assert_close(loss, torch.tensor((0.64 - 4.0) / 2))
    assert metrics["clipfrac"] == pytest.approx(1.0)


def test_cispo_default_upper_bound_is_five_and_a_ratio_on_it_is_not_clipped():
    """Defaults ε_low = 1 (no lower bound), ε_high = 4: the weight is capped at r = 5; a log-ratio of
    exactly log 5 leaves the weight as it is, so it does not count as clipped."""
    old = torch.zeros(1, 2)
    logp = torch.tensor([[math.log(5.0), 3.0]])  # r = 5 (on the bound) and e^3 = 20.1 (capped to 5)
    adv = torch.ones(1, 2)
    loss, metrics = compute_cispo_loss(old, logp, adv, torch.ones(1, 2))
    torch.testing.assert_close(loss, torch.tensor(-(5.0 * math.log(5.0) + 5.0 * 3.0) / 2))
    assert metrics["clipfrac"] == 0.5
