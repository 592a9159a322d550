"""Registry behaviour: names, duplicates, unknown names, the one dispatch path, no_grad."""

import pytest
import torch

from training.algorithms import (
    AdvantageSpec,
    PolicyLossSpec,
    advantage_estimator_names,
    advantage_estimator_spec,
    compute_advantage,
    compute_policy_loss,
    compute_ppo_loss,
    get_advantage_estimator,
    get_policy_loss,
    policy_loss_names,
    policy_loss_spec,
    register_advantage_estimator,
    register_policy_loss,
    registry,
)


@pytest.fixture
def scratch_names():
    """Names registered by a test are removed afterwards so tests stay independent."""
    names = []
    yield names
    for name in names:
        for table in (registry._ADVANTAGE_ESTIMATORS, registry._POLICY_LOSSES):
            if name in table:
                table.remove(name)


def test_builtin_names():
    assert advantage_estimator_names() == [
        "gdpo",
        "grpo",
        "grpo_passk",
        "reinforce_plus_plus",
        "remax",
        "rloo",
    ]
    assert policy_loss_names() == ["cispo", "gspo", "gspo_token", "luffy", "ppo"]


def test_registrations_declare_what_the_step_must_supply():
    """The RL step reads these instead of comparing algorithm names."""
    needs = {name: advantage_estimator_spec(name) for name in advantage_estimator_names()}
    assert {n for n, s in needs.items() if s.greedy_baseline} == {"remax"}
    assert {n for n, s in needs.items() if s.min_group_size > 1} == {"grpo", "rloo", "gdpo"}
    assert needs["reinforce_plus_plus"] == AdvantageSpec()
    losses = {name: policy_loss_spec(name) for name in policy_loss_names()}
    assert {n for n, s in losses.items() if s.off_policy_mask or s.options} == {"luffy"}
    assert "off_policy_reshape" in losses["luffy"].options and losses["ppo"] == PolicyLossSpec()
    with pytest.raises(ValueError, match="unknown policy loss 'nope'"):
        policy_loss_spec("nope")


def test_a_new_registration_carries_its_needs(scratch_names):
    scratch_names.append("test_needs")
    register_advantage_estimator("test_needs", greedy_baseline=True, min_group_size=3)(lambda **kw: None)
    register_policy_loss("test_needs", options=("lr",), off_policy_mask=True)(lambda **kw: None)
    assert advantage_estimator_spec("test_needs") == AdvantageSpec(greedy_baseline=True, min_group_size=3)
    assert policy_loss_spec("test_needs") == PolicyLossSpec(options=("lr",), off_policy_mask=True)


def test_duplicate_builtin_name_rejected():
    with pytest.raises(ValueError, match="'grpo' is already registered"):
        register_advantage_estimator("grpo")(lambda **kw: None)
    with pytest.raises(ValueError, match="'ppo' is already registered"):
        register_policy_loss("ppo")(lambda **kw: None)
    # the original is still the one served
    assert get_policy_loss("ppo") is compute_ppo_loss


def test_duplicate_new_name_rejected(scratch_names):
    scratch_names.append("test_dup")
    register_policy_loss("test_dup")(lambda **kw: (torch.tensor(0.0), {}))
    with pytest.raises(ValueError, match="already registered"):
        register_policy_loss("test_dup")(lambda **kw: (torch.tensor(1.0), {}))


@pytest.mark.parametrize("bad", ["", None, 3])
def test_bad_names_rejected(bad):
    with pytest.raises(ValueError, match="non-empty string"):
        register_advantage_estimator(bad)


def test_unknown_names_list_allowed():
    with pytest.raises(ValueError) as err:
        get_advantage_estimator("gae")
    msg = str(err.value)
    assert "unknown advantage estimator 'gae'" in msg
    for name in ["gdpo", "grpo", "grpo_passk", "reinforce_plus_plus", "remax", "rloo"]:
        assert name in msg
    with pytest.raises(
        ValueError, match="unknown policy loss 'sapo'; allowed: cispo, gspo, gspo_token, luffy, ppo"
    ):
        get_policy_loss("sapo")
    with pytest.raises(ValueError, match="allowed"):
        compute_advantage("nope", token_level_rewards=torch.zeros(1, 1))
    with pytest.raises(ValueError, match="unknown policy loss"):
        get_policy_loss(["ppo"])  # unhashable: still a clean ValueError


def test_custom_estimator_dispatch_runs_without_grad(scratch_names):
    seen = {}

    @register_advantage_estimator("test_const")
    def const(token_level_rewards, response_mask, value=2.0, **unused):
        seen["grad_enabled"] = torch.is_grad_enabled()
        adv = token_level_rewards * 0 + value * response_mask
        return adv, adv

    scratch_names.append("test_const")
    rewards = torch.zeros(2, 3, requires_grad=True)
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    adv, _ = compute_advantage(
        "test_const", token_level_rewards=rewards, response_mask=mask, value=3.0, index=[0, 1]
    )
    assert seen["grad_enabled"] is False
    assert not adv.requires_grad
    assert torch.equal(adv, 3.0 * mask)
    # the registered function itself is wrapped too (EasyR1: register wraps with no_grad)
    adv2, _ = const(token_level_rewards=rewards, response_mask=mask)
    assert not adv2.requires_grad and seen["grad_enabled"] is False


def test_builtin_estimator_output_has_no_grad():
    rewards = torch.tensor([[0.0, 1.0], [0.0, 0.0]], requires_grad=True)
    adv, _ = compute_advantage(
        "grpo", token_level_rewards=rewards, response_mask=torch.ones(2, 2), index=["a", "a"]
    )
    assert not adv.requires_grad


def test_policy_loss_dispatch_matches_direct_call():
    old = torch.tensor([[-1.0, -1.0]])
    new = torch.tensor([[-0.9, -1.2]], requires_grad=True)
    adv = torch.tensor([[1.0, -1.0]])
    mask = torch.ones(1, 2)
    loss_a, metrics_a = compute_policy_loss(
        "ppo", old_log_probs=old, log_probs=new, advantages=adv, response_mask=mask
    )
    loss_b, metrics_b = compute_ppo_loss(old, new, adv, mask)
    assert torch.equal(loss_a, loss_b) and metrics_a == metrics_b
    assert loss_a.requires_grad  # losses are not wrapped in no_grad
