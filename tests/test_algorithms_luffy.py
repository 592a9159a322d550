"""LUFFY's mixed on-/off-policy loss against hand-computed values (training/algorithms/luffy.py)."""

import math

import pytest
import torch

import training.algorithms.luffy  # noqa: F401  (registers "luffy")
from training.algorithms import compute_policy_loss, compute_ppo_loss, get_policy_loss, policy_loss_names
from training.algorithms.luffy import compute_luffy_loss

LOG = math.log
NAN, NEG_INF = float("nan"), float("-inf")

# --- off-policy reshapes ----------------------------------------------------------------------

# One offline row: p = (0.5, 0.25), then a padding token whose log-prob is -inf and whose
# old_log_probs are NaN (never read). A = 2 on both tokens, so with token-mean over 2 tokens
#   loss = -2 (f(0.5) + f(0.25)) / 2 = -(f0 + f1)   and   d loss / d log p_t = -f'(p_t) p_t.
OFF_P = (0.5, 0.25)


def off_row_inputs():
    log_probs = torch.tensor([[LOG(0.5), LOG(0.25), NEG_INF]], requires_grad=True)
    old = torch.full((1, 3), NAN)
    adv = torch.full((1, 3), 2.0)
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    return old, log_probs, adv, mask, torch.tensor([True])


RESHAPES = [
    # (name, kwargs, f(p) per token, d f / d log p per token)
    ("p_div_p_0.1", {}, (5 / 6, 5 / 7), (0.05 / 0.36, 0.025 / 0.1225)),  # p/(p+.1); .1p/(p+.1)^2
    ("p_div_p_0.5", {}, (0.5, 1 / 3), (0.25, 0.125 / 0.5625)),  # p/(p+.5); .5p/(p+.5)^2
    ("p_div_p_0.3", {}, (0.5 / 0.8, 0.25 / 0.55), (0.15 / 0.64, 0.075 / 0.3025)),
    ("no_reshape", {}, (0.5, 0.25), (0.5, 0.25)),  # p; p
    ("logp", {}, (0.1 * LOG(0.5), 0.1 * LOG(0.25)), (0.1, 0.1)),  # w log p, w = 0.1 (LUFFY yaml)
    ("logp", {"off_policy_reshape_weight": 1.0}, (LOG(0.5), LOG(0.25)), (1.0, 1.0)),
    ("p_logp", {}, (0.5 + 0.1 * LOG(0.5), 0.25 + 0.1 * LOG(0.25)), (0.6, 0.35)),  # p + w; d: p + w
    ("square_root", {}, (math.sqrt(0.5), 0.5), (math.sqrt(0.5) / 2, 0.25)),  # sqrt p; sqrt(p)/2
    ("pow", {}, (math.sqrt(0.5), 0.5), (math.sqrt(0.5) / 2, 0.25)),  # default exponent 0.5
    ("pow", {"off_policy_reshape_pow_exp": 2.0}, (0.25, 0.0625), (0.5, 0.125)),  # p^2; 2 p^2
]


@pytest.mark.parametrize("name, kwargs, f, df", RESHAPES)
def test_off_policy_reshapes(name, kwargs, f, df):
    old, logp, adv, mask, off = off_row_inputs()
    loss, metrics = compute_luffy_loss(old, logp, adv, mask, off, off_policy_reshape=name, **kwargs)
    torch.testing.assert_close(loss, torch.tensor(-(f[0] + f[1])))
    loss.backward()
    # off-policy tokens are never clipped: every token keeps its gradient; padding gets exactly 0
    torch.testing.assert_close(logp.grad, torch.tensor([[-df[0], -df[1], 0.0]]))
    assert metrics["off_pg_loss"] == pytest.approx(-(f[0] + f[1]))
    assert metrics["off_ratio_mean"] == pytest.approx((f[0] + f[1]) / 2)
    assert metrics["off_policy_prob"] == pytest.approx(0.375)
    assert metrics["off_policy_frac"] == 1.0
    # no on-policy token: the on-policy metrics are 0, not NaN
    for key in ("on_pg_loss", "on_policy_prob", "clipfrac", "ppo_kl", "ratio_mean"):
        assert metrics[key] == 0.0


def test_default_reshape_is_luffy_policy_shaping():
    old, logp, adv, mask, off = off_row_inputs()
    default, _ = compute_luffy_loss(old, logp, adv, mask, off)
    explicit, _ = compute_luffy_loss(old, logp, adv, mask, off, off_policy_reshape="p_div_p_0.1")
    assert default.item() == explicit.item() == pytest.approx(-(5 / 6 + 5 / 7))


# --- equivalence with ppo without off-policy rows ---------------------------------------------


def random_inputs(seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    old = -torch.rand(4, 6, generator=g, dtype=dtype) * 3
    new = old + 0.6 * torch.randn(4, 6, generator=g, dtype=dtype)
    adv = torch.randn(4, 1, generator=g, dtype=dtype).expand(4, 6).contiguous()
    mask = torch.tensor([[1.0] * 6, [1.0] * 4 + [0.0] * 2, [1.0] + [0.0] * 5, [0.0] * 6], dtype=dtype)
    return old, new, adv, mask


@pytest.mark.parametrize("off_kind", ["none", "rows", "tokens"])
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"clip_ratio_low": 0.1, "clip_ratio_high": 0.1, "clip_ratio_c": 1.5},
        {"loss_agg_mode": "seq-mean-token-mean"},
        {"loss_agg_mode": "seq-mean-token-sum-norm", "loss_scale_factor": 4.0},
    ],
)
def test_without_off_policy_rows_equals_ppo(off_kind, kwargs):
    old, new, adv, mask = random_inputs(0)
    off = {"none": None, "rows": torch.zeros(4, dtype=torch.bool), "tokens": torch.zeros(4, 6, dtype=torch.bool)}
    logp_ppo, logp_luffy = new.clone().requires_grad_(True), new.clone().requires_grad_(True)
    loss_ppo, m_ppo = compute_ppo_loss(old, logp_ppo, adv, mask, **kwargs)
    loss_luffy, m_luffy = compute_luffy_loss(old, logp_luffy, adv, mask, off[off_kind], **kwargs)
    assert torch.equal(loss_luffy, loss_ppo)
    loss_ppo.backward()
    loss_luffy.backward()
    assert torch.equal(logp_luffy.grad, logp_ppo.grad)
    assert {k: m_luffy[k] for k in m_ppo} == m_ppo
    assert m_luffy["off_policy_frac"] == m_luffy["off_pg_loss"] == m_luffy["off_ratio_mean"] == 0.0


def test_float64_equals_ppo():
    old, new, adv, mask = random_inputs(1, torch.float64)
    loss_ppo, _ = compute_ppo_loss(old, new, adv, mask)
    loss_luffy, _ = compute_luffy_loss(old, new, adv, mask, torch.zeros(4, dtype=torch.bool))
    assert loss_luffy.dtype == torch.float64
    assert torch.equal(loss_luffy, loss_ppo)


# --- mixed rows -------------------------------------------------------------------------------

# row 0 on-policy, A=+1, old p = 0.5, ratios (1.1, 1.5) + padding
#   -> -1.1 (inside [0.8, 1.3]), -1.3 (clip-higher bound)
# row 1 on-policy, A=-1, old p = 0.2, ratios (0.5, 5.0, 1.0)
#   -> max(0.5, 0.8) = 0.8 (lower bound), min(max(5, 1.3), 3) = 3 (dual clip), 1.0
# row 2 off-policy, A=+2, p = (0.5, 0.25) + padding, old_log_probs NaN (unused)
#   -> -2 * 5/6 = -5/3, -2 * 5/7 = -10/7
# token-mean over 7 tokens: (-1.1 - 1.3 + 0.8 + 3 + 1 - 5/3 - 10/7) / 7 = (2.4 - 65/21) / 7
MIXED_OLD = torch.tensor([[LOG(0.5)] * 3, [LOG(0.2)] * 3, [NAN] * 3])
MIXED_RATIO_OR_P = torch.tensor([[1.1, 1.5, 1.0], [0.5, 5.0, 1.0], [0.5, 0.25, 1.0]])
MIXED_ADV = torch.tensor([[1.0] * 3, [-1.0] * 3, [2.0] * 3])
MIXED_MASK = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
MIXED_OFF = torch.tensor([False, False, True])


def mixed_inputs():
    on_logp = torch.nan_to_num(MIXED_OLD) + MIXED_RATIO_OR_P.log()
    logp = torch.where(MIXED_OFF[:, None], MIXED_RATIO_OR_P.log(), on_logp)
    logp[2, 2] = NEG_INF  # padding of the offline row
    return MIXED_OLD, logp.requires_grad_(True), MIXED_ADV, MIXED_MASK


def test_mixed_rows_values_gradient_and_metrics():
    old, logp, adv, mask = mixed_inputs()
    loss, metrics = compute_luffy_loss(old, logp, adv, mask, MIXED_OFF)
    torch.testing.assert_close(loss, torch.tensor((2.4 - 65 / 21) / 7))
    loss.backward()
    # on-policy: -A r where unclipped (t00: -1.1, t12: +1.0), 0 where a bound is active;
    # off-policy: -A γp/(p+γ)^2 = -2 * (5/36, 10/49); all / 7 tokens
    expected = torch.tensor([[-1.1, 0.0, 0.0], [0.0, 0.0, 1.0], [-10 / 36, -20 / 49, 0.0]]) / 7
    torch.testing.assert_close(logp.grad, expected)
    assert metrics == pytest.approx(
        {
            "clipfrac": 2 / 5,  # t01 (upper), t10 (lower) of 5 on-policy tokens
            "clipfrac_high": 1 / 5,
            "clipfrac_dual": 1 / 5,  # t11
            "ppo_kl": -LOG(1.1 * 1.5 * 0.5 * 5.0 * 1.0) / 5,
            "ratio_mean": (1.1 + 1.5 + 0.5 + 5.0 + 1.0) / 5,
            "on_pg_loss": 2.4 / 5,
            "off_pg_loss": -65 / 42,
            "on_policy_prob": (0.5 * 2 + 0.2 * 3) / 5,  # exp(old_log_probs) on on-policy tokens
            "off_policy_prob": 0.375,
            "off_ratio_mean": (5 / 6 + 5 / 7) / 2,
            "off_ratio_max_clip_frac": 0.0,
            "off_ratio_min_clip_frac": 0.0,
            "off_policy_frac": 2 / 7,
            "all_max_clip_frac": 0.0,
        },
        abs=1e-6,
    )


def test_mixed_rows_sequence_aggregation():
    old, logp, adv, mask = mixed_inputs()
    loss, _ = compute_luffy_loss(old, logp, adv, mask, MIXED_OFF, loss_agg_mode="seq-mean-token-mean")
    # row means: (-1.1 - 1.3)/2 = -1.2, (0.8 + 3 + 1)/3 = 1.6, (-5/3 - 10/7)/2 = -65/42
    torch.testing.assert_close(loss, torch.tensor((-1.2 + 1.6 - 65 / 42) / 3))


def test_row_mask_equals_expanded_token_mask():
    old, logp, adv, mask = mixed_inputs()
    rows, m_rows = compute_luffy_loss(old, logp, adv, mask, MIXED_OFF)
    tokens, m_tokens = compute_luffy_loss(old, logp, adv, mask, MIXED_OFF[:, None].expand(3, 3).clone())
    assert torch.equal(rows, tokens)
    assert m_rows == m_tokens


def test_token_level_mask_expert_prefix():
    # one row: an expert prefix of 2 tokens (p = 0.5, 0.25), then the policy's own token, ratio 1.2
    # A = +1: (-5/6 - 5/7 - 1.2) / 3; the on-policy token is inside [0.8, 1.3] so unclipped
    logp = torch.tensor([[LOG(0.5), LOG(0.25), LOG(0.1 * 1.2)]], requires_grad=True)
    old = torch.tensor([[0.0, 0.0, LOG(0.1)]])
    off = torch.tensor([[True, True, False]])
    loss, metrics = compute_luffy_loss(old, logp, torch.ones(1, 3), torch.ones(1, 3), off)
    torch.testing.assert_close(loss, torch.tensor((-5 / 6 - 5 / 7 - 1.2) / 3))
    loss.backward()
    torch.testing.assert_close(logp.grad, torch.tensor([[-5 / 36, -10 / 49, -1.2]]) / 3)
    assert metrics["off_policy_frac"] == pytest.approx(2 / 3)
    assert metrics["ratio_mean"] == pytest.approx(1.2)
    assert metrics["on_policy_prob"] == pytest.approx(0.1)


def test_off_policy_tokens_have_no_ppo_clip():
    # ratio to old_log_probs would be 0.5 / 0.01 = 50 -> ppo would clip it; LUFFY ignores old there
    logp = torch.tensor([[LOG(0.5)]], requires_grad=True)
    loss, metrics = compute_luffy_loss(
        torch.tensor([[LOG(0.01)]]), logp, torch.ones(1, 1), torch.ones(1, 1), torch.tensor([True])
    )
    torch.testing.assert_close(loss, torch.tensor(-5 / 6))
    loss.backward()
    torch.testing.assert_close(logp.grad, torch.tensor([[-5 / 36]]))
    assert metrics["clipfrac"] == 0.0


# --- gradient direction -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["p_div_p_0.1", "no_reshape", "logp", "p_logp", "square_root", "pow"])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_gradient_step_moves_expert_tokens_with_the_advantage(name, sign):
    # a tiny "policy": logits [T, V]; row 0 is the policy's own sample, row 1 an expert trajectory
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 4, 5, generator=g).requires_grad_(True)
    tokens = torch.tensor([[0, 1, 2, 3], [4, 3, 2, 1]])

    def token_log_probs():
        return torch.log_softmax(logits, -1).gather(-1, tokens[..., None]).squeeze(-1)

    before = token_log_probs().detach()
    adv = torch.tensor([[0.5] * 4, [sign] * 4])
    loss, _ = compute_luffy_loss(
        before, token_log_probs(), adv, torch.ones(2, 4), torch.tensor([False, True]), off_policy_reshape=name
    )
    loss.backward()
    with torch.no_grad():
        logits -= 0.5 * logits.grad
    delta = token_log_probs().detach() - before
    assert (sign * delta[1] > 0).all()  # A > 0 raises every expert token's log-prob, A < 0 lowers it
    assert (delta[0] > 0).all()  # the on-policy row (A = +0.5) also rises


# --- options ----------------------------------------------------------------------------------


def test_off_max_and_min_clip():
    # f = (5/6, 5/7) ~ (0.833, 0.714); max 0.8 clips token 0, min 0.75 lifts token 1; both lose gradient
    old, logp, adv, mask, off = off_row_inputs()
    loss, metrics = compute_luffy_loss(old, logp, adv, mask, off, off_max_clip=0.8, off_min_clip=0.75)
    torch.testing.assert_close(loss, torch.tensor(-(0.8 + 0.75)))
    loss.backward()
    torch.testing.assert_close(logp.grad, torch.zeros(1, 3))
    assert metrics["off_ratio_max_clip_frac"] == pytest.approx(0.5)
    assert metrics["off_ratio_min_clip_frac"] == pytest.approx(0.5)
    assert metrics["off_ratio_mean"] == pytest.approx(0.775)
    # only a max clip above both values changes nothing
    loss, metrics = compute_luffy_loss(*off_row_inputs(), off_max_clip=0.9)
    torch.testing.assert_close(loss, torch.tensor(-(5 / 6 + 5 / 7)))
    assert metrics["off_ratio_max_clip_frac"] == 0.0


def test_all_max_clip_drops_confident_tokens_everywhere():
    # row 0 on-policy (A=+1): ratio 1.1 at p 0.55 (kept), ratio 1.0 at p 0.9 (dropped)
    # row 1 off-policy (A=+2): p 0.5 (kept), p 0.95 (dropped) -> loss (-1.1 - 2*5/6) / 2 kept tokens
    logp = torch.tensor([[LOG(0.55), LOG(0.9)], [LOG(0.5), LOG(0.95)]], requires_grad=True)
    old = torch.tensor([[LOG(0.5), LOG(0.9)], [0.0, 0.0]])
    adv = torch.tensor([[1.0, 1.0], [2.0, 2.0]])
    loss, metrics = compute_luffy_loss(
        old, logp, adv, torch.ones(2, 2), torch.tensor([False, True]), all_max_clip=0.8
    )
    torch.testing.assert_close(loss, torch.tensor((-1.1 - 5 / 3) / 2))
    loss.backward()
    torch.testing.assert_close(logp.grad, torch.tensor([[-1.1, 0.0], [-10 / 36, 0.0]]) / 2)
    assert metrics["all_max_clip_frac"] == pytest.approx(0.5)
    assert metrics["off_policy_frac"] == pytest.approx(0.5)


def test_loss_remove_clip_keeps_every_on_policy_token():
    # mixed rows without any bound: on-policy -A r = -1.1, -1.5 | 0.5, 5.0, 1.0; off-policy unchanged
    old, logp, adv, mask = mixed_inputs()
    loss, metrics = compute_luffy_loss(old, logp, adv, mask, MIXED_OFF, loss_remove_clip=True)
    torch.testing.assert_close(loss, torch.tensor((-1.1 - 1.5 + 0.5 + 5.0 + 1.0 - 65 / 21) / 7))
    loss.backward()
    expected = torch.tensor([[-1.1, -1.5, 0.0], [0.5, 5.0, 1.0], [-10 / 36, -20 / 49, 0.0]]) / 7
    torch.testing.assert_close(logp.grad, expected)
    assert metrics["clipfrac"] == metrics["clipfrac_high"] == metrics["clipfrac_dual"] == 0.0


# --- registry ---------------------------------------------------------------------------------


def test_registered_and_dispatched():
    assert "luffy" in policy_loss_names()
    assert get_policy_loss("luffy") is compute_luffy_loss
    old, logp, adv, mask = mixed_inputs()
    direct, m_direct = compute_luffy_loss(old, logp, adv, mask, MIXED_OFF)
    via, m_via = compute_policy_loss(
        "luffy",
        old_log_probs=old,
        log_probs=logp,
        advantages=adv,
        response_mask=mask,
        off_policy_mask=MIXED_OFF,
        entropy_coeff=0.001,  # unknown keywords are ignored, as for every loss
    )
    assert torch.equal(direct, via)
    assert m_direct == m_via
    assert all(isinstance(v, float) for v in m_via.values())


# --- validation -------------------------------------------------------------------------------


def bad_call(**overrides):
    old, logp, adv, mask, off = off_row_inputs()
    kwargs = {
        "old_log_probs": old,
        "log_probs": logp,
        "advantages": adv,
        "response_mask": mask,
        "off_policy_mask": off,
    }
    kwargs.update(overrides)
    return compute_luffy_loss(**kwargs)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"off_policy_mask": torch.tensor([1.0])}, "off_policy_mask must be a bool tensor, got torch.float32"),
        ({"off_policy_mask": [True]}, "off_policy_mask must be a bool tensor"),
        ({"off_policy_mask": torch.tensor([True, False])}, r"off_policy_mask must be \[B\] or \[B, T\]"),
        ({"off_policy_mask": torch.tensor([[True, False]])}, r"off_policy_mask must be \[B\] or \[B, T\]"),
        ({"log_probs": torch.zeros(1, 3, dtype=torch.long)}, "log_probs must be a floating-point tensor"),
        ({"advantages": torch.ones(1, 3, dtype=torch.int32)}, "advantages must be a floating-point"),
        ({"log_probs": torch.zeros(3)}, r"log_probs must be \[B, T\]"),
        ({"advantages": torch.ones(1, 2)}, r"advantages must have the shape of log_probs \(1, 3\)"),
        ({"response_mask": torch.ones(2, 3)}, "response_mask must have the shape of log_probs"),
        ({"off_policy_reshape": "p_div_p"}, "unknown off_policy_reshape 'p_div_p'; allowed: p_div_p_<gamma>"),
        ({"off_policy_reshape": "p_div_p_0"}, "unknown off_policy_reshape 'p_div_p_0'"),
        ({"off_policy_reshape": "p_div_p_-0.1"}, "unknown off_policy_reshape"),
        ({"off_policy_reshape": "p_div_p_nan"}, "unknown off_policy_reshape"),
        ({"off_policy_reshape": "sqrt"}, "unknown off_policy_reshape 'sqrt'"),
        ({"off_policy_reshape": None}, "unknown off_policy_reshape None"),
        ({"off_policy_reshape_weight": 0.0}, "off_policy_reshape_weight must be a finite number > 0"),
        ({"off_policy_reshape_pow_exp": -0.5}, "off_policy_reshape_pow_exp must be a finite number > 0"),
        ({"off_max_clip": 0.5, "off_min_clip": 0.6}, r"off_min_clip \(0.6\) must be <= off_max_clip \(0.5\)"),
        ({"off_max_clip": float("inf")}, "off_max_clip must be None or a finite number"),
        ({"all_max_clip": 0.0}, r"all_max_clip must be None or a probability in \(0, 1\]"),
        ({"all_max_clip": 1.5}, "all_max_clip must be None or a probability"),
        ({"clip_ratio_c": 1.0}, "clip_ratio_c"),
        ({"clip_ratio_low": -0.1}, "clip ratios must be >= 0"),
        ({"loss_agg_mode": "mean"}, "unknown loss aggregation mode 'mean'"),
    ],
)
def test_invalid_inputs_raise_value_error(overrides, message):
    with pytest.raises(ValueError, match=message):
        bad_call(**overrides)


def test_non_tensor_input_raises_type_error():
    with pytest.raises(TypeError, match="old_log_probs must be a torch.Tensor, got list"):
        bad_call(old_log_probs=[[0.0, 0.0, 0.0]])
