"""RL algorithm math: advantage estimators, policy losses, KL, loss aggregation (pure torch).

Registries (``registry``) map config names to functions; ``compute_advantage`` and
``compute_policy_loss`` are the only dispatch paths. Importing this package registers the
built-ins: advantages grpo, grpo_passk, rloo, reinforce_plus_plus, remax, gdpo; losses ppo,
gspo, gspo_token, cispo, luffy (off-policy rows from worker.rollout.enable_mix_policy,
shaped by f(p) = p/(p+γ)).
"""

from .advantages import (
    compute_gdpo_outcome_advantage,
    compute_grpo_outcome_advantage,
    compute_grpo_passk_outcome_advantage,
    compute_reinforce_plus_plus_outcome_advantage,
    compute_remax_outcome_advantage,
    compute_rloo_outcome_advantage,
)
from .kl import (
    KL_KINDS,
    AdaptiveKLController,
    FixedKLController,
    apply_kl_penalty,
    get_kl_controller,
    kl_loss,
    kl_penalty,
)
from .losses import (
    AGG_MODES,
    agg_loss,
    compute_cispo_loss,
    compute_gspo_loss,
    compute_gspo_token_loss,
    compute_ppo_loss,
    masked_mean,
    masked_var,
    masked_whiten,
)
from .luffy import compute_luffy_loss as compute_luffy_loss  # registers "luffy"
from .registry import (
    AdvantageSpec,
    PolicyLossSpec,
    advantage_estimator_names,
    advantage_estimator_spec,
    compute_advantage,
    compute_policy_loss,
    get_advantage_estimator,
    get_policy_loss,
    policy_loss_names,
    policy_loss_spec,
    register_advantage_estimator,
    register_policy_loss,
)

__all__ = [
    "AGG_MODES",
    "KL_KINDS",
    "AdaptiveKLController",
    "AdvantageSpec",
    "FixedKLController",
    "PolicyLossSpec",
    "advantage_estimator_names",
    "advantage_estimator_spec",
    "agg_loss",
    "apply_kl_penalty",
    "compute_advantage",
    "compute_cispo_loss",
    "compute_gdpo_outcome_advantage",
    "compute_grpo_outcome_advantage",
    "compute_grpo_passk_outcome_advantage",
    "compute_gspo_loss",
    "compute_gspo_token_loss",
    "compute_policy_loss",
    "compute_ppo_loss",
    "compute_reinforce_plus_plus_outcome_advantage",
    "compute_remax_outcome_advantage",
    "compute_rloo_outcome_advantage",
    "get_advantage_estimator",
    "get_kl_controller",
    "get_policy_loss",
    "kl_loss",
    "kl_penalty",
    "masked_mean",
    "masked_var",
    "masked_whiten",
    "policy_loss_names",
    "policy_loss_spec",
    "register_advantage_estimator",
    "register_policy_loss",
]
