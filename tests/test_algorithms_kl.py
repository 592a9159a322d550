"""KL estimators, KL as loss and as reward penalty, and the coefficient controllers."""

import math

import pytest
import torch

from training.algorithms import (
    AdaptiveKLController,
    FixedKLController,
    apply_kl_penalty,
    get_kl_controller,
    kl_loss,
    kl_penalty,
)

LOGP = torch.tensor([[-1.0, -2.0]])
REF = torch.tensor([[-1.5, -1.0]])  # x = logp - ref = [0.5, -1.0]

# k3 with log ρ = ref - logp = [-0.5, 1.0]: ρ - log ρ - 1 = e^-0.5 + 0.5 - 1, e^1 - 1 - 1
K3 = [math.exp(-0.5) - 0.5, math.e - 2.0]


@pytest.mark.parametrize(
    "kinds, expected",
    [
        (("k1", "kl"), [0.5, -1.0]),  # x
        (("abs",), [0.5, 1.0]),  # |x|
        (("k2", "mse"), [0.125, 0.5]),  # x² / 2
        (("k3", "low_var_kl"), K3),
    ],
)
def test_kl_kinds(kinds, expected):
    for kind in kinds:
        torch.testing.assert_close(kl_penalty(LOGP, REF, kind), torch.tensor([expected]))


def test_k3_is_clamped_and_float32():
    # log ρ = 15 -> e^15 - 16 ≈ 3.3e6 -> clamped to 10; log ρ = 40 is first clamped to 20 -> still 10
    logp = torch.zeros(1, 3)
    ref = torch.tensor([[15.0, 40.0, 0.0]])
    torch.testing.assert_close(kl_penalty(logp, ref, "low_var_kl"), torch.tensor([[10.0, 10.0, 0.0]]))
    out = kl_penalty(LOGP.bfloat16(), REF.bfloat16(), "k1")
    assert out.dtype == torch.float32


def test_kl_errors():
    with pytest.raises(
        ValueError, match="unknown KL penalty kind 'full'; allowed: k1, kl, abs, k2, mse, k3, low_var_kl"
    ):
        kl_penalty(LOGP, REF, "full")
    with pytest.raises(ValueError, match="must match"):
        kl_penalty(LOGP, REF[:, :1], "k1")


def test_kl_loss_masked_token_mean():
    mask = torch.tensor([[1.0, 0.0]])
    # only the first token: k2 = 0.125
    torch.testing.assert_close(kl_loss(LOGP, REF, mask, kind="mse"), torch.tensor(0.125))
    # both tokens, seq-mean-token-sum: (0.125 + 0.5) / 1 row
    torch.testing.assert_close(
        kl_loss(LOGP, REF, torch.ones(1, 2), "k2", "seq-mean-token-sum"), torch.tensor(0.625)
    )


def test_apply_kl_penalty_to_rewards():
    scores = torch.tensor([[0.0, 1.0], [0.0, 2.0]])
    logp = torch.tensor([[0.5, -1.0], [0.2, 9.0]])
    ref = torch.zeros(2, 2)  # k1 = logp
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    rewards, current_kl = apply_kl_penalty(scores, logp, ref, mask, kl_coef=0.1, kind="kl")
    # r - 0.1 * kld * mask: [0 - 0.05, 1 + 0.1], [0 - 0.02, 2 - 0 (padding)]
    torch.testing.assert_close(rewards, torch.tensor([[-0.05, 1.1], [-0.02, 2.0]]))
    # mean over rows of per-row token means: ((0.5 - 1)/2 + 0.2/1) / 2 = (-0.25 + 0.2) / 2
    assert current_kl == pytest.approx(-0.025, abs=1e-6)


def test_fixed_controller():
    ctrl = get_kl_controller("fixed", 0.04)
    assert isinstance(ctrl, FixedKLController)
    ctrl.update(current_kl=5.0, n_steps=256)
    assert ctrl.kl_coef == 0.04


def test_adaptive_controller_steps_and_resume():
    ctrl = get_kl_controller("adaptive", 0.001, kl_target=0.1, kl_horizon=10000)
    assert isinstance(ctrl, AdaptiveKLController)
    # kl 0.15: e = clip(0.15/0.1 - 1) = clip(0.5) = 0.2 -> × (1 + 0.2 * 256 / 10000) = × 1.00512
    ctrl.update(0.15, n_steps=256)
    assert ctrl.kl_coef == pytest.approx(0.001 * 1.00512)
    # kl 0.09: e = -0.1 -> × (1 - 0.1 * 256 / 10000) = × 0.99744
    ctrl.update(0.09, n_steps=256)
    assert ctrl.kl_coef == pytest.approx(0.001 * 1.00512 * 0.99744)
    # kl 0: e = clip(-1) = -0.2 -> × (1 - 0.2 * 100 / 10000) = × 0.998
    ctrl.update(0.0, n_steps=100)
    expected = 0.001 * 1.00512 * 0.99744 * 0.998
    assert ctrl.kl_coef == pytest.approx(expected)
    resumed = AdaptiveKLController(0.001, 0.1, 10000)
    resumed.load_state_dict(ctrl.state_dict())
    assert resumed.kl_coef == ctrl.kl_coef


def test_controller_errors():
    with pytest.raises(ValueError, match="unknown kl_type 'pid'; allowed: fixed, adaptive"):
        get_kl_controller("pid", 0.1)
    with pytest.raises(ValueError, match="horizon"):
        AdaptiveKLController(0.1, 0.1, horizon=0)
    with pytest.raises(ValueError, match="target_kl"):
        AdaptiveKLController(0.1, 0.0)
    with pytest.raises(ValueError, match="kl_coef"):
        FixedKLController(-1.0)
