"""Every estimator and loss gives the CPU result on CUDA tensors (skips without CUDA)."""

import pytest
import torch

from training.algorithms import (
    advantage_estimator_names,
    compute_advantage,
    compute_policy_loss,
    kl_penalty,
    policy_loss_names,
)

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


def _advantage_inputs(device):
    g = torch.Generator().manual_seed(0)
    rewards = torch.zeros(6, 4)
    rewards[:, -1] = torch.rand(6, generator=g)
    mask = torch.tensor([[1.0] * 4] * 4 + [[1.0, 1.0, 0.0, 0.0]] * 2)
    return {
        "token_level_rewards": rewards.to(device),
        "response_mask": mask.to(device),
        "index": ["a", "a", "a", "b", "b", "b"],
        "gamma": 0.9,
        "reward_baselines": torch.full((6,), 0.5, device=device),
        "reward_scores": {"accuracy": rewards.sum(-1).to(device), "format": torch.ones(6, device=device)},
    }


@pytest.mark.parametrize("name", advantage_estimator_names())
def test_advantages_match_cpu(name):
    cpu = compute_advantage(name, **_advantage_inputs("cpu"))
    gpu = compute_advantage(name, **_advantage_inputs("cuda"))
    for a, b in zip(cpu, gpu):
        assert b.device.type == "cuda"
        torch.testing.assert_close(b.cpu(), a, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", policy_loss_names())
def test_losses_match_cpu(name):
    g = torch.Generator().manual_seed(1)
    old = -torch.rand(3, 5, generator=g)
    new = old + 0.3 * torch.randn(3, 5, generator=g)
    adv = torch.randn(3, 1, generator=g).expand(3, 5).contiguous()
    mask = torch.tensor([[1.0] * 5, [1.0] * 3 + [0.0] * 2, [1.0] + [0.0] * 4])
    results = []
    for device in ("cpu", "cuda"):
        logp = new.to(device).requires_grad_(True)
        loss, metrics = compute_policy_loss(
            name,
            old_log_probs=old.to(device),
            log_probs=logp,
            advantages=adv.to(device),
            response_mask=mask.to(device),
        )
        loss.backward()
        results.append((loss.detach().cpu(), logp.grad.cpu(), metrics))
    (l0, g0, m0), (l1, g1, m1) = results
    torch.testing.assert_close(l1, l0, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g1, g0, rtol=1e-5, atol=1e-6)
    assert m0 == pytest.approx(m1, rel=1e-5, abs=1e-6)


def test_kl_on_cuda():
    logp, ref = torch.tensor([[-1.0, -2.0]]), torch.tensor([[-1.5, -1.0]])
    for kind in ("k1", "abs", "k2", "k3"):
        torch.testing.assert_close(
            kl_penalty(logp.cuda(), ref.cuda(), kind).cpu(), kl_penalty(logp, ref, kind)
        )
