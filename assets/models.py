"""The policy checkpoint every later asset starts from."""

import json
import shutil
from pathlib import Path
from typing import Literal

import dagster as dg

from assets.lineage import CODE_VERSION, checkpoint_version
from assets.partitions import register_checkpoints
from assets.resources import CheckpointsResource, WorkspaceResource
from demo_kit.tiny_models import build_tiny_model


class BaseModelConfig(dg.Config):
    model_path: str = ""
    # the demo default: Qwen2-VL, the family benchmarks/learning.py measured learning with (its tiny SFT steps
    # also ran ~3x faster than the tiny Qwen2.5-VL's on this 2-core CPU: ~0.25 s against ~0.7 s)
    tiny_family: Literal["qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_5", "qwen3_5_moe", "qwen3_vl_moe"] = (
        "qwen2_vl"  # demo_kit.tiny_models.FAMILIES (tests/test_pipeline.py checks they agree)
    )
    seed: int = 0


@dg.asset(
    group_name="models",
    code_version=CODE_VERSION,
    description=(
        "A Qwen2/2.5/3-VL checkpoint directory. `model_path` points at your own (loaded with "
        "from_pretrained, as any Qwen checkpoint); empty builds the tiny offline model (random weights)."
    ),
)
def base_model(
    context: dg.AssetExecutionContext,
    config: BaseModelConfig,
    workspace: WorkspaceResource,
    checkpoints: CheckpointsResource,
) -> dg.Output[dict]:
    if config.model_path:
        path = Path(config.model_path).expanduser().resolve()
        if not (path / "config.json").exists():
            raise FileNotFoundError(
                f"base_model.model_path={path} has no config.json: point it at a HF checkpoint"
            )
    else:
        path = workspace.path("models", f"tiny-{config.tiny_family}")
        if not (path / "config.json").exists():  # built aside and renamed: an interrupted build leaves
            context.log.info(f"building tiny {config.tiny_family} at {path}")  # no half checkpoint
            partial = path.with_name(path.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            build_tiny_model(config.tiny_family, partial, seed=config.seed)
            shutil.rmtree(path, ignore_errors=True)
            partial.rename(path)
    model_type = json.loads((path / "config.json").read_text()).get("model_type", "?")
    name = checkpoints.register(path, workspace)
    register_checkpoints(context.instance, [name])  # evaluable as partition `name` of checkpoint_eval
    return dg.Output(
        {"path": str(path), "model_type": model_type, "checkpoint_name": name},
        data_version=checkpoint_version(path),
        metadata={
            "path": str(path),
            "model_type": model_type,
            "tiny": not config.model_path,
            "checkpoint_partition": name,
        },
    )
