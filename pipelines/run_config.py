"""A run config: one EasyR1/EasyVideoR1-shaped YAML that says what ``reelrl train`` materializes.

The file has EasyR1's sections and key names wherever ReelRL has the concept, and three sections of its
own for the steps EasyR1 does not have (``filter``, ``sft``, ``evaluation``)::

    data:
      train_files: data/train.jsonl        # a file or a list (.json, .jsonl, .parquet)
      val_files: data/val.jsonl            # optional: evaluated as the `reelrl_jsonl` benchmark
      media_root: data/                    # relative media paths resolve here (default: each file's folder)
      video_fps: 2.0                       # media_cache: the tensor cache's sampling settings
      video_max_frames: 128
      rollout_batch_size: 4
    algorithm: {adv_estimator: grpo}       # training.config.RLConfig.algorithm, key for key
    worker:
      actor:
        model: {model_path: /models/Qwen2.5-VL-7B-Instruct}   # empty: the tiny offline model
        optim: {lr: 1.0e-6}
      rollout: {n: 8}
    trainer: {max_steps: 200}
    filter: {enable: true, k: 8}           # the partial-success pass-rate filter (0 < pass rate < 1)
    sft: {steps: 0}                        # a warm start before RL (0: none)
    evaluation: {benchmarks: [reelrl_jsonl]}

Every key is checked when the file loads: unknown keys are reported all at once, each with its line and the
nearest valid key; keys of EasyR1 that mean nothing here (GPU placement, FSDP, offload) are listed as
ignored, with why. Relative paths resolve against the working directory, as in EasyR1.

``load_run_config`` returns a ``RunPlan``: the dataset files, each asset's Dagster config, the validated
``RLConfig`` and the benchmarks; ``pipelines.train`` materializes it. Nothing here touches Dagster.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evaluation.media_spec import DEFAULT_MEDIA_FROM, MEDIA_FROM
from training.config import ConfigError, RLConfig, load_config

# run-config key -> RLConfig key, for EasyR1's nesting of the same settings
RL_ALIASES = {
    "data.format_prompt": "data.prompt_template",
    "data.max_response_length": "worker.rollout.max_new_tokens",
    "worker.actor.optim.lr": "worker.actor.lr",
    "worker.actor.optim.weight_decay": "worker.actor.weight_decay",
    "worker.actor.optim.lr_warmup_ratio": "worker.actor.lr_warmup_ratio",
    "worker.actor.optim.min_lr_ratio": "worker.actor.min_lr_ratio",
    "worker.actor.optim.lr_scheduler_type": "worker.actor.lr_scheduler_type",
    "worker.actor.model.freeze_vision_tower": "worker.actor.freeze_vision_tower",
    "worker.actor.model.lora.rank": "worker.actor.lora_rank",
    "worker.actor.model.lora.alpha": "worker.actor.lora_alpha",
    "worker.actor.model.lora.target_modules": "worker.actor.lora_target_modules",
    "trainer.max_steps": "trainer.total_steps",
}

# run-config key -> (asset whose config takes it, its key there), with the run config's default
ASSET_KEYS: dict[str, tuple[str, str, Any]] = {
    "worker.actor.model.model_path": ("base_model", "model_path", ""),
    "worker.actor.model.tiny_family": ("base_model", "tiny_family", "qwen2_5_vl"),
    # EasyVideoR1's training sizes (2 fps, <= 128 frames, 262,144 px; images 1,048,576 px)
    "data.video_fps": ("media_cache", "video_fps", 2.0),
    "data.video_max_frames": ("media_cache", "video_max_frames", 128),
    "data.video_min_frames": ("media_cache", "video_min_frames", 4),
    "data.video_min_pixels": ("media_cache", "video_min_pixels", 128 * 28 * 28),
    "data.video_max_pixels": ("media_cache", "video_max_pixels", 262144),
    "data.image_min_pixels": ("media_cache", "image_min_pixels", 128 * 28 * 28),
    "data.image_max_pixels": ("media_cache", "image_max_pixels", 1048576),
    "data.preprocess_workers": ("media_cache", "workers", 2),
    # the blocking check after the cache build: more undecodable media than this share stops the run
    "data.max_failed_fraction": ("media_cache_failed_media_rate", "max_failed_fraction", 0.05),
    "filter.k": ("rollout_pass_rates", "k", 8),
    "filter.temperature": ("rollout_pass_rates", "temperature", 1.0),
    "filter.max_new_tokens": ("rollout_pass_rates", "max_new_tokens", 1024),
    "filter.success_threshold": ("rollout_pass_rates", "success_threshold", 0.5),
    "filter.batch_size": ("rollout_pass_rates", "batch_size", 8),
    "filter.low": ("filtered_train_set", "low", 0.0),
    "filter.high": ("filtered_train_set", "high", 1.0),
    "sft.steps": ("sft_warm_start", "steps", 0),
    "sft.batch_size": ("sft_warm_start", "batch_size", 8),
    "sft.lr": ("sft_warm_start", "lr", 1e-5),
    "sft.save_freq": ("sft_warm_start", "save_freq", 40),
    "sft.seed": ("sft_warm_start", "seed", 1),
    # where each evaluation's frame settings start: the benchmark's documented ones (the default of every door)
    # or the training cache's spec (evaluation.media_spec resolves it)
    "evaluation.media_spec": ("checkpoint_eval", "media_spec", DEFAULT_MEDIA_FROM),
    "evaluation.max_new_tokens": ("checkpoint_eval", "max_new_tokens", 1024),
    "evaluation.batch_size": ("checkpoint_eval", "batch_size", 8),
}

# keys of the run itself (not of one asset), with their defaults
RUN_KEYS: dict[str, Any] = {
    "data.train_files": [],
    "data.val_files": [],
    "data.media_root": "",
    "data.skip_invalid": False,  # drop rows that fail the load check (listed) instead of stopping the run
    "filter.enable": True,
    "evaluation.benchmarks": None,  # None: reelrl_jsonl when there are val files
    "evaluation.annotations": {},  # benchmark -> annotation file
    "evaluation.media_roots": {},  # benchmark -> media folder
    "trainer.experiment_name": "",
    "trainer.n_gpus_per_node": 1,  # x nnodes = the trainer's Ray Train workers
    "trainer.nnodes": 1,
    "algorithm.disable_kl": False,  # EasyR1: true drops the reference model (kl_coef 0)
}
MAPPING_KEYS = {"evaluation.annotations", "evaluation.media_roots"}  # values are mappings, not sections

# EasyR1 keys with no meaning in ReelRL: accepted, listed as ignored with the reason
IGNORED = {
    "data.prompt_key": "rows are read by the EasyR1/Video-R1 field names (problem, prompt, question)",
    "data.answer_key": "rows are read by the EasyR1/Video-R1 field names (answer, solution)",
    "data.image_key": "rows are read by the EasyR1/Video-R1 field names (images, videos, path)",
    "data.video_key": "rows are read by the EasyR1/Video-R1 field names (images, videos, path)",
    "data.image_dir": "use data.media_root",
    "data.max_prompt_length": "prompts are never truncated (a truncated prompt breaks video_grid_thw)",
    "data.val_batch_size": "evaluation.batch_size sets it",
    "data.filter_overlong_prompts": "prompts are never truncated",
    "data.min_pixels": "use data.video_min_pixels / data.image_min_pixels",
    "data.max_pixels": "use data.video_max_pixels / data.image_max_pixels",
    "worker.actor.global_batch_size": "one update per rollout batch (data.rollout_batch_size x n)",
    "worker.actor.micro_batch_size_per_device_for_update": "use worker.actor.micro_batch_size",
    "worker.actor.micro_batch_size_per_device_for_experience": "use worker.actor.micro_batch_size",
    "worker.actor.padding_free": "GPU kernel option of EasyR1",
    "worker.actor.dynamic_batching": "GPU kernel option of EasyR1",
    "worker.actor.ulysses_sequence_parallel_size": "no sequence parallelism",
    "worker.actor.model.enable_gradient_checkpointing": "GPU memory option of EasyR1",
    "worker.actor.model.trust_remote_code": "Qwen-VL classes ship with transformers",
    "worker.actor.optim.strategy": "AdamW",
    "worker.actor.fsdp": "use worker.actor.strategy (replicate or fsdp2)",
    "worker.actor.offload": "no CPU offload",
    "worker.ref": "the reference model is the starting policy, loaded when kl_coef > 0",
    "worker.rollout.tensor_parallel_size": "one engine per trainer process",
    "worker.rollout.enable_chunked_prefill": "vLLM's default",
    "worker.rollout.limit_images": "no limit",
    "worker.rollout.val_override_config": "evaluation decodes greedily (evaluation.max_new_tokens)",
    "worker.reward.reward_type": "rewards dispatch on each row's problem_type",
    "worker.reward.reward_function": "rewards dispatch on each row's problem_type (training.rewards)",
    "worker.reward.score_function": "rewards dispatch on each row's problem_type (training.rewards)",
    "trainer.total_epochs": "use trainer.max_steps",
    "trainer.total_episodes": "use trainer.max_steps",
    "trainer.project_name": "runs are named by trainer.experiment_name",
    "trainer.val_freq": "checkpoints are evaluated after training (or by the Dagster sensor)",
    "trainer.val_before_train": "the starting checkpoint is evaluated too",
    "trainer.val_only": "use `reelrl eval run`",
    "trainer.val_generations_to_log": "predictions are saved per sample under evals/",
    "trainer.save_checkpoint_path": "checkpoints go under <home>/runs/ (--home)",
    "trainer.load_checkpoint_path": "runs resume from their own folder (trainer.find_last_checkpoint)",
}

# the keys of training.config.RLConfig that the run config takes as they are
_RL_EXCLUDED = {"model_path"}  # the policy comes from base_model / sft_warm_start


def _leaves(cls, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> type of every leaf of a (nested) dataclass."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        key = prefix + f.name
        if dataclasses.is_dataclass(hints[f.name]):
            out.update(_leaves(hints[f.name], key + "."))
        elif key not in _RL_EXCLUDED:
            out[key] = hints[f.name]
    return out


RL_KEYS = _leaves(RLConfig)


def valid_keys() -> list[str]:
    return sorted({*RL_KEYS, *RL_ALIASES, *ASSET_KEYS, *RUN_KEYS})


@dataclass
class RunPlan:
    """What ``reelrl train`` materializes, resolved from a run config."""

    source: str  # the YAML file
    train_files: list  # entries: a path, or {path, name, media_root} as in $REELRL_DATASETS
    val_files: list
    media_root: str
    ops: dict  # training assets' Dagster config: {asset: {"config": {...}}}
    eval_ops: dict  # checkpoint_eval's
    rl: RLConfig
    benchmarks: list[str]
    annotations: dict[str, str]
    media_roots: dict[str, str]
    num_workers: int
    filter_enabled: bool
    skip_invalid: bool
    experiment_name: str
    ignored: list[str] = field(default_factory=list)  # "key: why", printed when the run starts
    resolved: dict = field(default_factory=dict)  # every key with the value used (``--dry-run``)


def load_run_config(path: str | Path, overrides: list[str] | None = None) -> RunPlan:
    """Read, check and resolve a run config; ``overrides`` are ``a.b.c=value`` items (EasyR1's command-line
    form). Raises one ``ConfigError`` listing every problem found."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such run config")
    text = path.read_text()
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections (data, algorithm, …)")
    lines = _key_lines(text)
    values = _flatten(doc)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key.sub=value")
        key, raw = item.split("=", 1)
        values[key.strip()] = yaml.safe_load(raw) if raw else ""
        lines[key.strip()] = "command line"
    problems, ignored = [], []
    known = set(valid_keys())
    for key in values:
        if key in known:
            continue
        reason = next((why for k, why in IGNORED.items() if key == k or key.startswith(k + ".")), None)
        if reason:
            ignored.append(f"{key}: ignored ({reason})")
            continue
        near = _nearest(key, known)
        problems.append(
            f"{_where(path, lines, key)}unknown key {key}" + (f" (did you mean {near}?)" if near else "")
        )
    for alias, target in RL_ALIASES.items():
        if alias in values and target in values and values[alias] != values[target]:
            problems.append(
                f"{_where(path, lines, alias)}{alias} and {target} are the same setting with different values"
            )
    plan = _resolve(path, values, lines, problems)
    if problems:
        raise ConfigError(f"{path}: {len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems))
    plan.ignored = ignored
    return plan


def _resolve(path: Path, values: dict, lines: dict, problems: list[str]) -> RunPlan | None:
    """Split the flat values into RLConfig, asset configs and run settings; appends to ``problems``."""
    _absolute(values, ASSET_KEYS_PATHS)
    get = {**RUN_KEYS, **{k: d for k, (_, _, d) in ASSET_KEYS.items()}, **values}.get
    rl_values = {RL_ALIASES.get(k, k): v for k, v in values.items() if k in RL_KEYS or k in RL_ALIASES}
    if get("algorithm.disable_kl"):
        rl_values["algorithm.kl_coef"] = 0.0
    rl = None
    try:
        rl = load_config(overrides=_nest(rl_values))
    except ConfigError as err:
        problems.append(f"{path}: {err}")
    train_files, val_files = _files(get("data.train_files")), _files(get("data.val_files"))
    if not train_files:
        problems.append(
            f"{_where(path, lines, 'data.train_files')}data.train_files is required (a file or a list)"
        )
    for key, files in (("data.train_files", train_files), ("data.val_files", val_files)):
        for entry in files:
            f = entry.get("path", "") if isinstance(entry, dict) else entry
            if not Path(str(f)).is_file():
                problems.append(f"{_where(path, lines, key)}{key}: {f}: no such file{_demo_hint(str(f))}")
    problems += _model_problems(
        path, lines, get("worker.actor.model.model_path"), get("worker.actor.model.tiny_family")
    )
    media_root = _abs(get("data.media_root"))
    if media_root and not Path(media_root).is_dir():
        problems.append(
            f"{_where(path, lines, 'data.media_root')}data.media_root: {media_root}: no such folder"
        )
    benchmarks = get("evaluation.benchmarks")
    if benchmarks is None:
        benchmarks = ["reelrl_jsonl"] if val_files else []
    benchmarks = [benchmarks] if isinstance(benchmarks, str) else list(benchmarks)
    from evaluation.adapters.registry import list_benchmarks

    unknown = [b for b in benchmarks if b not in list_benchmarks()]
    if unknown:
        problems.append(
            f"{_where(path, lines, 'evaluation.benchmarks')}evaluation.benchmarks: unknown {unknown}; "
            f"known: {', '.join(list_benchmarks())}"
        )
    if "reelrl_jsonl" in benchmarks and not val_files:
        problems.append(
            f"{_where(path, lines, 'evaluation.benchmarks')}evaluation.benchmarks lists reelrl_jsonl "
            "(the held-out split) but data.val_files is empty"
        )
    annotations = {k: _abs(v) for k, v in (get("evaluation.annotations") or {}).items()}
    media_roots = {k: _abs(v) for k, v in (get("evaluation.media_roots") or {}).items()}
    for b in benchmarks:
        if b not in ("reelrl_jsonl", "charades_sta", *unknown) and b not in annotations:
            problems.append(
                f"{_where(path, lines, 'evaluation.benchmarks')}evaluation.benchmarks lists {b}: set "
                f"evaluation.annotations.{b} (its annotation file) and evaluation.media_roots.{b}"
            )
    ops: dict[str, dict] = {}
    for key, (asset, name, default) in ASSET_KEYS.items():
        ops.setdefault(asset, {"config": {}})["config"][name] = get(key)
    problems += [f"{path}: {p}" for p in _media_problems(ops["media_cache"]["config"])]
    if get("evaluation.media_spec") not in MEDIA_FROM:
        problems.append(
            f"{_where(path, lines, 'evaluation.media_spec')}evaluation.media_spec must be one of "
            f"{list(MEDIA_FROM)}, got {get('evaluation.media_spec')!r}"
        )
    eval_ops = {"checkpoint_eval": ops.pop("checkpoint_eval")}
    filter_enabled = bool(get("filter.enable"))
    ops["rollout_pass_rates"]["config"]["enabled"] = filter_enabled
    if rl is not None:  # the filter's rollouts read frames as the trainer does (one key: data.media_source)
        ops["rollout_pass_rates"]["config"]["media_source"] = rl.data.media_source
    ops["training_run"] = {"config": _training_run_ops(rl)}
    workers = int(get("trainer.n_gpus_per_node") or 1) * int(get("trainer.nnodes") or 1)
    ops["training_run"]["config"]["num_workers"] = workers
    experiment = str(get("trainer.experiment_name") or Path(path).stem)
    resolved = {k: get(k) for k in sorted({*RUN_KEYS, *ASSET_KEYS})}
    resolved.update(
        {
            "data.train_files": train_files,
            "data.val_files": val_files,
            "data.media_root": media_root,
            "evaluation.benchmarks": benchmarks,
            "evaluation.annotations": annotations,
            "evaluation.media_roots": media_roots,
            "trainer.experiment_name": experiment,
        }
    )
    if rl is not None:
        resolved.update({k: _lookup(rl, k) for k in RL_KEYS})
    if problems:
        return None
    return RunPlan(
        source=str(path),
        train_files=train_files,
        val_files=val_files,
        media_root=media_root,
        ops=ops,
        eval_ops=eval_ops,
        rl=rl,
        benchmarks=benchmarks,
        annotations=annotations,
        media_roots=media_roots,
        num_workers=workers,
        filter_enabled=filter_enabled,
        skip_invalid=bool(get("data.skip_invalid")),
        experiment_name=experiment,
        resolved=_nest(resolved),
    )


def _model_problems(path: Path, lines: dict, model_path: str, tiny_family: str) -> list[str]:
    """A model family the trainer cannot run is refused at load, naming the supported ones: the checkpoint's
    ``config.json`` ``model_type`` (when the folder is there; a missing one is base_model's to report), or
    the tiny family when no checkpoint is given."""
    import json

    from demo_kit.tiny_models import FAMILIES as TINY_FAMILIES
    from training.models.processor import FAMILIES

    if model_path:
        config = Path(model_path) / "config.json"
        if not config.is_file():
            return []
        model_type = json.loads(config.read_text()).get("model_type")
        if model_type in FAMILIES:
            return []
        key = "worker.actor.model.model_path"
        return [
            f"{_where(path, lines, key)}{key}: model_type {model_type!r} is not supported; supported: {sorted(FAMILIES)}"
        ]
    if tiny_family in TINY_FAMILIES:
        return []
    key = "worker.actor.model.tiny_family"
    return [
        f"{_where(path, lines, key)}{key}={tiny_family!r} is not a tiny model family; supported: {list(TINY_FAMILIES)}"
    ]


def _media_problems(cache: dict) -> list[str]:
    """The sampling settings' own rules (``MediaSpec``), checked now rather than when the cache is built."""
    from cache_store import MediaSpec
    from evaluation.media_spec import CACHE_CONFIG_KEYS as spec

    names = {v: k for k, (asset, v, _) in ASSET_KEYS.items() if asset == "media_cache"}
    try:
        MediaSpec(**{field: cache[key] for field, key in spec.items()})
    except (TypeError, ValueError) as err:
        message = str(err)
        for field, key in sorted(spec.items(), key=lambda kv: -len(kv[0])):
            message = message.replace(f"MediaSpec.{field} ", f"{names[key]} ")
        return [message]
    return []


def _training_run_ops(rl: RLConfig | None) -> dict:
    """training_run's launchpad config: the whole RLConfig but the policy path (from sft_warm_start)."""
    if rl is None:
        return {}
    out = dataclasses.asdict(rl)
    out.pop("model_path")
    return out


def _lookup(obj, dotted: str):
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _files(value) -> list:
    """A file or a list of files (entries a path or ``{path, name, media_root}``), made absolute."""
    if not value:
        return []
    out = []
    for v in value if isinstance(value, list) else [value]:
        if isinstance(v, dict):
            out.append({**v, **{k: _abs(v[k]) for k in ("path", "media_root") if v.get(k)}})
        else:
            out.append(_abs(v))
    return out


def _abs(value) -> str:
    """A local path made absolute against the working directory (as EasyR1 reads its paths); URIs as given."""
    value = str(value or "")
    return value if not value or "://" in value else str(Path(value).expanduser().absolute())


ASSET_KEYS_PATHS = ("worker.actor.model.model_path", "data.format_prompt", "data.prompt_template")


def _absolute(values: dict, keys) -> None:
    for k in keys:
        if values.get(k):
            values[k] = _abs(values[k])


def _demo_hint(f: str) -> str:
    if Path(f).name in ("train.jsonl", "val.jsonl") and Path(f).parent.name == "demo":
        return f" (write the synthetic demo set with `reelrl demo-data --out {Path(f).parent}`)"
    return ""


def _flatten(doc: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in doc.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and key not in MAPPING_KEYS and key not in RL_KEYS:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _nest(flat: dict) -> dict:
    out: dict = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def _nearest(key: str, known: set[str]) -> str | None:
    """The valid key a typo most likely meant: the whole dotted key, else the last part within the section."""
    hit = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.75)
    if hit:
        return hit[0]
    leaf = key.rsplit(".", 1)[-1]
    by_leaf = {k.rsplit(".", 1)[-1]: k for k in sorted(known)}
    hit = difflib.get_close_matches(leaf, sorted(by_leaf), n=1, cutoff=0.75)
    return by_leaf[hit[0]] if hit else None


def _key_lines(text: str) -> dict[str, int | str]:
    """Dotted key -> its line in the YAML (1-based), for messages that point at the line to edit."""
    out: dict[str, int | str] = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return out

    def walk(node, prefix: str) -> None:
        if not isinstance(node, yaml.MappingNode):
            return
        for k, v in node.value:
            key = f"{prefix}{k.value}"
            out[key] = k.start_mark.line + 1
            walk(v, key + ".")

    walk(root, "")
    return out


def _where(path: Path, lines: dict, key: str) -> str:
    line = lines.get(key)
    if line is None:
        return f"{path}: "
    return f"{path}:{line}: " if isinstance(line, int) else f"{line}: "
