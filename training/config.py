"""Typed RL configuration: dataclass defaults -> YAML file -> ``key=value`` overrides, validated at load.

Key names follow EasyR1 where it has them (``algorithm.adv_estimator``, ``data.rollout_batch_size``,
``worker.actor.clip_ratio_high``, ``worker.rollout.n``). An unknown key or a value of the wrong type
fails before any work starts, with the dotted key and the allowed values in the message.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from training.data.media_source import MEDIA_SOURCES
from training.hardware import DEVICES, ENGINES, device_problem, engine_problem


class ConfigError(ValueError):
    pass


LOSS_AGG_MODES = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")
KL_TYPES = ("fixed", "adaptive")
STRATEGIES = ("replicate", "fsdp2")  # worker.actor.strategy: how the policy is laid out over workers


@dataclass
class DataConfig:
    """What the trainer reads; media sampling settings live with the cache (``media_cache`` config)."""

    prompt_template: str = ""  # a Jinja2 file, or a folder of <type>.jinja; empty = the built-in templates
    rollout_batch_size: int = 4  # prompts per RL step
    shuffle: bool = True
    seed: int = 1
    # where the trainer and the pass-rate filter get frames (EasyVideoR1's prefer_preprocessed/realtime_only):
    # "cache" (a missing entry is an error naming the sample), "prefer_cache" (decode on the fly what the
    # cache lacks), "decode" (never read the cache); decoding uses the cache's spec, so the tensors are the same
    media_source: str = "cache"


@dataclass
class AlgorithmConfig:
    adv_estimator: str = "grpo"
    norm_adv_by_std_in_grpo: bool = True
    # KL to a reference model (loaded only when kl_coef > 0): a loss term (use_kl_loss) or a reward penalty
    use_kl_loss: bool = False
    kl_penalty: str = "low_var_kl"  # k1 "kl", "abs", "mse", k3 "low_var_kl", "full"
    kl_coef: float = 0.0
    kl_type: str = (
        "fixed"  # reward-penalty coefficient: "fixed" or "adaptive" (target kl_target over kl_horizon)
    )
    kl_target: float = 0.1
    kl_horizon: float = 10000.0
    gdpo_reward_keys: list = field(default_factory=lambda: ["accuracy", "format"])
    # pass-rate filters keep filter_low < mean accuracy < filter_high: offline (the filtered train set) and,
    # with online_filtering, DAPO dynamic sampling of each step's groups (refilled up to
    # trainer.max_try_make_batch batches). Both read accuracy, never overall.
    filter_low: float = 0.0
    filter_high: float = 1.0
    online_filtering: bool = False
    success_threshold: float = 0.5  # a rollout "passes" when its accuracy reaches this
    # T-GRPO (Video-R1 --temporal): n//2 extra responses per video prompt on shuffled frames (not trained
    # on); ordered responses with accuracy > 0.1 get +temporal_alpha when p_ordered >= temporal_mu*p_shuffled
    temporal: bool = False
    temporal_alpha: float = 0.3
    temporal_mu: float = 0.8


@dataclass
class ActorConfig:
    lr: float = 1e-6  # EasyR1 / EasyVideoR1 recipe
    weight_decay: float = 1e-2
    max_grad_norm: float = 1.0
    ppo_epochs: int = 1
    loss_type: str = "ppo"
    loss_agg_mode: str = "token-mean"
    clip_ratio_low: float = 0.2
    clip_ratio_high: float = 0.28
    clip_ratio_dual: float = 3.0
    micro_batch_size: int = 16
    # across workers: "replicate" (every rank holds the whole model, gradients summed) or "fsdp2"
    # (fully_shard per decoder layer + root; each rank generates with its own full copy synced per step)
    strategy: str = "replicate"
    freeze_vision_tower: bool = False  # EasyR1: the whole visual encoder incl. merger(s) stays fixed
    lora_rank: int = 0  # > 0: train LoRA adapters (peft) on the language model's linears; 0 = full tuning
    lora_alpha: float = 64.0
    lora_target_modules: str = "all-linear"  # or "q_proj,v_proj,…"
    # MoE families (qwen3_vl_moe, qwen3_5_moe): weight of the router's load-balancing loss (transformers'
    # load_balancing_loss_func, the checkpoints' own training used 0.001) added to the policy loss; 0 = off.
    # Its value is logged as actor/router_aux_loss whenever the model routes, on or off.
    router_aux_loss_coef: float = 0.0
    lr_scheduler_type: str = "constant"  # or "cosine" (to min_lr_ratio·lr), after a linear warmup
    lr_warmup_ratio: float = 0.0
    min_lr_ratio: float = 0.0
    # LUFFY (loss_type=luffy) options for off-policy rows (worker.rollout.enable_mix_policy)
    off_policy_reshape: str = "p_div_p_0.1"
    off_policy_reshape_weight: float = 0.1
    off_policy_reshape_pow_exp: float = 0.5
    off_max_clip: float | None = None
    off_min_clip: float | None = None
    all_max_clip: float | None = None
    loss_remove_clip: bool = False


@dataclass
class RolloutConfig:
    n: int = 8
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1  # -1: off (veRL's convention); 1 samples the most likely token at temperature 1
    max_new_tokens: int = 1024
    # mixed offline/online groups (EasyVideoR1): a sample's offline_output replaces the last of its n
    # responses, always (threshold null) or only when the online group's mean accuracy < the threshold
    enable_mix_policy: bool = False
    mix_policy_accuracy_threshold: float | None = None
    # a failed engine call is split to isolate the failing prompts, each retried this many times; a prompt
    # that still fails is left out of the step and recorded in <run>/failed_rollouts.jsonl, never scored 0
    retries: int = 2
    # "hf": transformers generate on the training model (CPU and GPU); "vllm": a vLLM engine in the trainer's
    # process (the `gpu` extra, or vLLM's CPU build: `make setup-vllm`) that takes the policy's weights
    # before every step
    engine: str = "hf"
    # vllm only: the share of GPU memory vLLM may take (on vLLM's CPU build the KV cache takes 1 GiB, or
    # VLLM_CPU_KVCACHE_SPACE GiB), the weights' dtype ("auto": vLLM's choice, a 16-bit checkpoint's own dtype
    # and bfloat16 for a float32 one), eager mode (no torch.compile warm-up)
    gpu_memory_utilization: float = 0.5
    dtype: str = "auto"
    enforce_eager: bool = False


@dataclass
class OverlongBufferConfig:
    """DAPO soft overlong punishment (verl ``reward_model.overlong_buffer``): a response longer than
    ``worker.rollout.max_new_tokens - len`` tokens loses ``(L - (max_new_tokens - len)) / len * penalty_factor``
    from its ``overall`` reward, reaching ``-penalty_factor`` at ``max_new_tokens``."""

    enable: bool = False
    len: int = 4096  # verl's default; must be <= worker.rollout.max_new_tokens when enabled
    penalty_factor: float = 1.0


@dataclass
class LengthBonusConfig:
    """Video-R1 ``--len_control``: when more than one response of a group has accuracy > 0.1, each of those
    with ``min_length <= L <= max_length`` tokens gets ``+bonus`` on its ``overall`` reward."""

    enable: bool = False
    min_length: int = 320  # Video-R1's bounds, both inclusive
    max_length: int = 512
    bonus: float = 0.2


@dataclass
class RewardConfig:
    accuracy_weight: float = 0.9
    format_weight: float = 0.1
    require_think: bool = False  # format needs <think>…</think> then <answer>…</answer> (Video-R1)
    # LLM judge for the judge-graded families (open-ended, preference); off when judge_url is empty
    judge_url: str = ""  # OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1
    judge_model: str = ""
    judge_api_key_env: str = "REELRL_JUDGE_API_KEY"  # the key is read from this variable, never stored
    judge_cache: str = ""  # JSONL of judge replies, so a resumed run sends no repeated request
    # group shaping added to overall before advantages (lengths in response tokens, EOS included);
    # accuracy, which the filters read, is unchanged
    overlong_buffer: OverlongBufferConfig = field(default_factory=OverlongBufferConfig)
    length_bonus: LengthBonusConfig = field(default_factory=LengthBonusConfig)

    def judge_config(self):
        """The ``JudgeConfig`` these settings describe, or None when no judge is configured."""
        from training.rewards.judge import JudgeConfig

        try:
            return JudgeConfig.optional(
                self.judge_url,
                self.judge_model,
                api_key_env=self.judge_api_key_env,
                cache_path=self.judge_cache,
            )
        except ValueError as err:
            raise ConfigError(f"worker.reward judge settings (judge_url, judge_model, …): {err}") from None


@dataclass
class WorkerConfig:
    actor: ActorConfig = field(default_factory=ActorConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)


@dataclass
class TrainerConfig:
    total_steps: int = 10
    seed: int = 1
    max_try_make_batch: int = 20  # dynamic sampling: rollout batches per step at most
    # checkpoints (HF weights + optimizer, scheduler, RNG, data position) under <run>/checkpoints
    save_freq: int = 0  # every N steps (0: only at the end)
    save_limit: int = -1  # keep the newest N (-1: all)
    find_last_checkpoint: bool = True  # resume from the newest complete checkpoint of the run directory
    logger: list = field(default_factory=lambda: ["console", "jsonl", "tensorboard"])  # + mlflow, wandb
    device: str = "auto"  # where the policy trains and the HF engine generates: cuda when there is one


@dataclass
class RLConfig:
    model_path: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    def validate(self) -> RLConfig:
        from training.algorithms import advantage_estimator_spec, get_advantage_estimator, get_policy_loss

        _check_name("algorithm.adv_estimator", self.algorithm.adv_estimator, get_advantage_estimator)
        _check_name("worker.actor.loss_type", self.worker.actor.loss_type, get_policy_loss)
        if self.data.media_source not in MEDIA_SOURCES:
            raise ConfigError(f"data.media_source={self.data.media_source!r}; allowed: {list(MEDIA_SOURCES)}")
        if self.worker.actor.loss_agg_mode not in LOSS_AGG_MODES:
            raise ConfigError(
                f"worker.actor.loss_agg_mode={self.worker.actor.loss_agg_mode!r}; allowed: {LOSS_AGG_MODES}"
            )
        group = advantage_estimator_spec(self.algorithm.adv_estimator).min_group_size
        if self.worker.rollout.n < group:
            raise ConfigError(f"worker.rollout.n must be > {group - 1} for {self.algorithm.adv_estimator}")
        if not 0 <= self.algorithm.filter_low < self.algorithm.filter_high <= 1:
            raise ConfigError("need 0 <= algorithm.filter_low < algorithm.filter_high <= 1")
        positive = {
            "data.rollout_batch_size": self.data.rollout_batch_size,
            "worker.rollout.max_new_tokens": self.worker.rollout.max_new_tokens,
            "worker.actor.lr": self.worker.actor.lr,
            "worker.actor.micro_batch_size": self.worker.actor.micro_batch_size,
        }
        for key, value in positive.items():
            if value <= 0:
                raise ConfigError(f"{key} must be > 0, got {value}")
        coef = self.worker.actor.router_aux_loss_coef
        if not math.isfinite(coef) or coef < 0:
            raise ConfigError(f"worker.actor.router_aux_loss_coef must be >= 0, got {coef}")
        if self.algorithm.temporal_alpha < 0 or self.algorithm.temporal_mu <= 0:
            raise ConfigError("need algorithm.temporal_alpha >= 0 and algorithm.temporal_mu > 0")
        self._validate_kl()
        self._validate_actor_and_trainer()
        self._validate_rollout()
        if self.trainer.total_steps < 0:
            raise ConfigError("trainer.total_steps must be >= 0")
        self.worker.reward.judge_config()  # a bad judge setting fails at load
        self._validate_shaping()
        return self

    def _validate_shaping(self) -> None:
        """``worker.reward.overlong_buffer`` / ``length_bonus``: signs always, lengths against
        ``worker.rollout.max_new_tokens`` when switched on."""
        max_new = self.worker.rollout.max_new_tokens
        over, bonus = self.worker.reward.overlong_buffer, self.worker.reward.length_bonus
        key = "worker.reward.overlong_buffer"
        if over.len <= 0:
            raise ConfigError(f"{key}.len must be > 0, got {over.len}")
        if not math.isfinite(over.penalty_factor) or over.penalty_factor < 0:
            raise ConfigError(f"{key}.penalty_factor must be >= 0, got {over.penalty_factor}")
        if over.enable and over.len > max_new:
            raise ConfigError(
                f"{key}.len={over.len} exceeds worker.rollout.max_new_tokens={max_new}: every response "
                f"would be penalised; set {key}.len to at most the maximum response length"
            )
        key = "worker.reward.length_bonus"
        if bonus.min_length < 0 or bonus.min_length > bonus.max_length:
            raise ConfigError(
                f"need 0 <= {key}.min_length <= {key}.max_length, got {bonus.min_length} and {bonus.max_length}"
            )
        if not math.isfinite(bonus.bonus) or bonus.bonus < 0:
            raise ConfigError(f"{key}.bonus must be >= 0, got {bonus.bonus}")
        if bonus.enable and bonus.min_length > max_new:
            raise ConfigError(
                f"{key}.min_length={bonus.min_length} exceeds worker.rollout.max_new_tokens={max_new}: "
                "no response could get the bonus"
            )

    def _validate_kl(self) -> None:
        from training.algorithms import KL_KINDS

        alg = self.algorithm
        if alg.kl_penalty not in KL_KINDS:
            raise ConfigError(f"algorithm.kl_penalty={alg.kl_penalty!r}; allowed: {sorted(KL_KINDS)}")
        if alg.kl_type not in KL_TYPES:
            raise ConfigError(f"algorithm.kl_type={alg.kl_type!r}; allowed: {list(KL_TYPES)}")
        if alg.kl_coef < 0 or alg.kl_target <= 0 or alg.kl_horizon <= 0:
            raise ConfigError(
                "need algorithm.kl_coef >= 0, algorithm.kl_target > 0, algorithm.kl_horizon > 0"
            )
        keys = alg.gdpo_reward_keys
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
            raise ConfigError(f"algorithm.gdpo_reward_keys must be a non-empty list of names, got {keys!r}")

    def _validate_actor_and_trainer(self) -> None:
        from training.loop.schedule import SCHEDULER_KINDS
        from training.outputs.sinks import BACKENDS

        actor = self.worker.actor
        if not isinstance(self.trainer.logger, list) or set(self.trainer.logger) - set(BACKENDS):
            raise ConfigError(f"trainer.logger={self.trainer.logger!r}; allowed entries: {list(BACKENDS)}")
        if actor.lr_scheduler_type not in SCHEDULER_KINDS:
            raise ConfigError(
                f"worker.actor.lr_scheduler_type={actor.lr_scheduler_type!r}; "
                f"allowed: {list(SCHEDULER_KINDS)}"
            )
        if not (0 <= actor.lr_warmup_ratio <= 1 and 0 <= actor.min_lr_ratio <= 1):
            raise ConfigError("worker.actor.lr_warmup_ratio and worker.actor.min_lr_ratio must be in [0, 1]")
        if actor.lora_rank < 0:
            raise ConfigError("worker.actor.lora_rank must be >= 0 (0: no LoRA)")
        if actor.strategy not in STRATEGIES:
            raise ConfigError(f"worker.actor.strategy={actor.strategy!r}; allowed: {STRATEGIES}")
        if actor.strategy == "fsdp2" and actor.lora_rank > 0:
            raise ConfigError(
                "worker.actor.strategy=fsdp2 does not support LoRA (worker.actor.lora_rank > 0): use "
                "worker.actor.strategy=replicate for LoRA runs"
            )
        if self.trainer.save_freq < 0:
            raise ConfigError("trainer.save_freq must be >= 0 (0: save only at the end)")
        if self.trainer.max_try_make_batch < 1:
            raise ConfigError("trainer.max_try_make_batch must be >= 1")

    def _validate_rollout(self) -> None:
        from training.algorithms.luffy import reshape_gamma

        ro, actor = self.worker.rollout, self.worker.actor
        for problem in (
            device_problem(self.trainer.device),
            engine_problem(ro.engine, ro.gpu_memory_utilization, ro.dtype),
        ):
            if problem:
                raise ConfigError(problem)
        if ro.top_k == 0 or ro.top_k < -1:
            raise ConfigError(f"worker.rollout.top_k must be -1 (off) or >= 1, got {ro.top_k}")
        if ro.retries < 0:
            raise ConfigError(f"worker.rollout.retries must be >= 0, got {ro.retries}")
        threshold = ro.mix_policy_accuracy_threshold
        if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1
        ):
            raise ConfigError(
                f"worker.rollout.mix_policy_accuracy_threshold must be null or in [0, 1], got {threshold!r}"
            )
        if ro.enable_mix_policy and ro.n < 2:
            raise ConfigError(
                "worker.rollout.enable_mix_policy needs worker.rollout.n >= 2 (one slot is replaced)"
            )
        try:
            reshape_gamma(actor.off_policy_reshape)
        except ValueError as err:
            raise ConfigError(f"worker.actor.off_policy_reshape: {err}") from None


def _check_name(key: str, name: str, getter) -> None:
    try:
        getter(name)
    except (KeyError, ValueError) as err:
        raise ConfigError(f"{key}={name!r}: {err}") from None


def _coerce(key: str, value: Any, typ: Any) -> Any:
    if dataclasses.is_dataclass(typ):
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping, got {value!r}")
        return _build(typ, value, key + ".")
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        return value
    if typ is bool:
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key} must be a boolean, got {value!r}")
    if typ in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        try:
            number = float(value) if typ is float else int(str(value), 0) if isinstance(value, str) else value
        except ValueError:
            raise ConfigError(f"{key} must be {typ.__name__}, got {value!r}") from None
        if typ is int and (not isinstance(number, int) or isinstance(number, bool)):
            if isinstance(number, float) and number.is_integer():
                return int(number)
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return typ(number)
    if typ is str:
        return str(value)
    return value


def _build(cls, values: dict, prefix: str = ""):
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(
            f"unknown config key {prefix}{unknown[0]}; allowed under {prefix or 'top level'}: {sorted(names)}"
        )
    kwargs = {k: _coerce(prefix + k, v, hints[k]) for k, v in values.items()}
    return cls(**kwargs)


def _merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for k, v in update.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def load_config(path: str | Path | None = None, overrides: list[str] | dict | None = None) -> RLConfig:
    """Defaults, then the YAML file, then ``a.b.c=value`` overrides (or a nested dict); validated."""
    values = to_dict(RLConfig())
    if path:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping")
        values = _merge(values, loaded)
    if isinstance(overrides, dict):
        values = _merge(values, overrides)
    for item in overrides or [] if not isinstance(overrides, dict) else []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key.sub=value")
        dotted, raw = item.split("=", 1)
        node = values
        parts = dotted.split(".")
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                raise ConfigError(f"unknown config key {dotted}")
            node = node[p]
        node[parts[-1]] = yaml.safe_load(raw) if raw else ""
    return _build(RLConfig, values).validate()


def choices() -> dict[str, tuple[str, ...]]:
    """The allowed values of every choice key (dotted), as ``validate`` checks them; ``trainer.logger`` is
    a list whose entries are drawn from its tuple. Front ends (the Dagster launchpad) offer exactly these."""
    from training.algorithms import KL_KINDS
    from training.algorithms.registry import advantage_estimator_names, policy_loss_names
    from training.loop.schedule import SCHEDULER_KINDS
    from training.outputs.sinks import BACKENDS

    return {
        "algorithm.adv_estimator": tuple(advantage_estimator_names()),
        "algorithm.kl_penalty": tuple(sorted(KL_KINDS)),
        "algorithm.kl_type": KL_TYPES,
        "data.media_source": MEDIA_SOURCES,
        "worker.actor.loss_type": tuple(policy_loss_names()),
        "worker.actor.loss_agg_mode": LOSS_AGG_MODES,
        "worker.actor.lr_scheduler_type": tuple(SCHEDULER_KINDS),
        "worker.actor.strategy": STRATEGIES,
        "worker.rollout.engine": ENGINES,
        "trainer.device": DEVICES,
        "trainer.logger": tuple(BACKENDS),
    }
