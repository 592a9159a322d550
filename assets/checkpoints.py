"""``checkpoint``: one partition per checkpoint folder (a ReelRL run's, or any HF checkpoint the sensor
found), recording what it is and checking its weights are finite."""

import dagster as dg

from assets.checkpoint_labels import checkpoint_label
from assets.lineage import CODE_VERSION
from assets.partitions import CHECKPOINTS
from assets.resources import CheckpointsResource, WorkspaceResource
from evaluation.weights import weights_report


@dg.asset(
    partitions_def=CHECKPOINTS,
    group_name="evaluation",
    code_version=CODE_VERSION,
    description="A Hugging Face checkpoint folder (partition = its name; metadata 'label' says what it is: "
    "base, warm start, step N): path, revision (content fingerprint), model type, step; the check reads every tensor and fails on NaN/inf.",
    check_specs=[
        dg.AssetCheckSpec(
            "weights_finite", asset="checkpoint", description="every tensor of the checkpoint is finite"
        )
    ],
)
def checkpoint(
    context: dg.AssetExecutionContext, workspace: WorkspaceResource, checkpoints: CheckpointsResource
):
    info = checkpoints.find(context.partition_key, workspace)
    report = weights_report(info.path)
    out = {
        "name": info.name,
        "label": checkpoint_label(info.path, workspace.dir()),
        "path": info.path,
        "revision": info.revision,
        "model_type": info.model_type,
        "step": info.step,
    }
    yield dg.Output(
        out,
        data_version=dg.DataVersion(info.revision or info.name),
        metadata={
            **{k: v for k, v in out.items() if v is not None},
            "path": dg.MetadataValue.path(info.path),
            "tensors": report["tensors"],
            "parameters": report["parameters"],
        },
    )
    yield dg.AssetCheckResult(
        check_name="weights_finite",
        passed=bool(report["finite"]),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "nan": report["nan"],
            "inf": report["inf"],
            "non_finite_tensors": ", ".join(report["non_finite"]) or "none",
        },
    )
