"""Source datasets: one asset per configured dataset file, and ``source_dataset``, their union per split.

The files are part of the code location (an asset per file must exist before any run), listed in a YAML file
named by ``$REELRL_DATASETS``::

    media_root: /data            # default for every file (relative media paths resolve against it)
    train:
      - /data/Video-R1-260k.json                   # a path: asset train_video_r1_260k
      - {path: /data/extra.parquet, name: extra, media_root: /data/extra}
    val:
      - /data/val.jsonl

Without it the code location serves the embedded demo: ``demo_dataset`` generates the synthetic set and
yields its two files as ``train_demo`` and ``val_demo``. Each file's asset validates every row (``load_samples``:
shape, answer for its problem type, options, media present; every invalid row fails there at once, naming file,
line, sample id and fix, unless its config ``skip_invalid`` drops them, listed under ``invalid_rows``) and reports
its data version from the file's bytes.
"""

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import dagster as dg
import yaml

from assets.lineage import CODE_VERSION, file_version
from assets.resources import WorkspaceResource
from demo_kit.synthetic import make_demo_dataset
from training.data.samples import RowProblem, load_samples, write_samples_jsonl
from training.data.stream import read_prepared, sample_to_row, write_prepared

SPLITS = ("train", "val")  # "val" is the held-out split everywhere: configs, files, assets


@dataclass(frozen=True)
class DatasetFile:
    path: str
    split: str  # "train" or "val"
    name: str = ""
    media_root: str = ""

    @property
    def asset_name(self) -> str:
        return f"{self.split}_{self.name}"


def dataset_files(config_path: str) -> list[DatasetFile]:
    """The files listed in a ``$REELRL_DATASETS`` YAML (see the module doc); a bad file fails when the code
    location loads, naming the entry."""
    if not config_path:
        return []
    doc = yaml.safe_load(Path(config_path).read_text()) or {}
    return dataset_files_of(doc, config_path)


def dataset_files_of(doc: dict, where: str) -> list[DatasetFile]:
    """The files of a ``{train: [...], val: [...], media_root: DIR}`` mapping (a ``$REELRL_DATASETS`` YAML, or
    a run config's ``data.train_files``/``val_files``); ``where`` names the source in errors."""
    if not isinstance(doc, dict) or set(doc) - {"train", "val", "media_root"} or not doc.get("train"):
        raise ValueError(f"{where}: expected `train: [files]`, optional `val: [files]` and `media_root: DIR`")
    files = []
    for split in ("train", "val"):
        for i, entry in enumerate(doc.get(split) or []):
            entry = {"path": entry} if isinstance(entry, str) else entry
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                raise ValueError(  # noqa: TRY004 (a config error, reported as such)
                    f"{where}: {split}[{i}] needs a path (a string, or {{path: FILE}})"
                )
            if unknown := set(entry) - {"path", "name", "media_root"}:
                raise ValueError(f"{where}: {split}[{i}]: unknown keys {sorted(unknown)}")
            name = re.sub(r"\W+", "_", entry.get("name") or Path(entry["path"]).stem).strip("_").lower()
            media_root = entry.get("media_root", doc.get("media_root", ""))
            files.append(DatasetFile(entry["path"], split, name, media_root or ""))
    seen = Counter(f.asset_name for f in files)
    if dupes := [n for n, c in seen.items() if c > 1]:
        raise ValueError(f"{where}: two files would be the asset {dupes[0]}; give them distinct `name`s")
    return files


def prepare_file(
    workspace: WorkspaceResource,
    file: str,
    media_root: str | None,
    name: str,
    skip_invalid: bool = False,
    log=None,
):
    """Validate and canonicalize one dataset file: (output value, metadata). A row whose media lie outside
    the media root is left out and listed under ``skipped_rows``; any other invalid row fails the asset (all of
    them in one error), or with ``skip_invalid`` is left out and listed under ``invalid_rows`` (and warned on
    ``log``)."""
    skipped: list[str] = []
    invalid: list[RowProblem] = []
    samples = load_samples(
        file, media_root=media_root, skipped=skipped, skip_invalid=skip_invalid, invalid=invalid
    )
    if invalid and log is not None:
        rows = len({p.where for p in invalid})
        log.warning(
            f"{file}: skip_invalid dropped {rows} invalid row(s):\n" + "\n".join(f"  {p}" for p in invalid)
        )
    prepared = write_prepared([sample_to_row(s) for s in samples], workspace.path("data", "sources", name))
    value = {
        "file": str(file),
        "media_root": media_root,
        "prepared": str(prepared),
        "n": len(samples),
        "skip_invalid": skip_invalid,
        "invalid_rows": len({p.where for p in invalid}),
    }
    metadata = {
        "rows": len(samples),
        "skipped_rows": dg.MetadataValue.json(skipped),
        "invalid_rows": dg.MetadataValue.json([str(p) for p in invalid]),
        "invalid_row_count": len({p.where for p in invalid}),
        "file": dg.MetadataValue.path(str(file)),
        "media_root": str(media_root or Path(file).parent),
        "problem_types": dg.MetadataValue.json(dict(Counter(s.problem_type for s in samples))),
        "data_types": dg.MetadataValue.json(dict(Counter(s.data_type for s in samples))),
    }
    return value, metadata


class SourceFileConfig(dg.Config):
    """``skip_invalid``: drop rows that fail validation (listed in the metadata ``invalid_rows``) instead of
    failing the asset; off by default, since a bad row is usually a bug to fix."""

    skip_invalid: bool = False


def file_asset(spec: DatasetFile) -> dg.AssetsDefinition:
    @dg.asset(
        name=spec.asset_name,
        group_name="sources",
        code_version=CODE_VERSION,
        description=f"{spec.split} dataset file {spec.path}: every row validated and made canonical; "
        "data version = the file's bytes.",
    )
    def _file(
        context: dg.AssetExecutionContext, config: SourceFileConfig, workspace: WorkspaceResource
    ) -> dg.Output[dict]:
        value, metadata = prepare_file(
            workspace,
            spec.path,
            spec.media_root or None,
            f"{spec.asset_name}.jsonl",
            skip_invalid=config.skip_invalid,
            log=context.log,
        )
        return dg.Output(value, data_version=file_version(spec.path), metadata=metadata)

    return _file


class DemoDatasetConfig(dg.Config):
    """Size, seed and tasks of the synthetic set (real H.264 videos and PNG images with known answers).
    The default is ``red_before_blue`` alone with answer-only targets: the task the tiny model learns within
    the demo's CPU budget, so its RL gain is visible (README, "What the demo does"). ``tasks`` may name any of
    ``demo_kit.synthetic.tasks``' TASKS and LEARNABLE_TASKS (repeat a name for a larger share);
    ``rationale: true`` adds each task's ``<think>`` reasoning to the SFT targets."""

    n_train: int = 256
    n_val: int = 128
    seed: int = 0
    tasks: list[str] = ["red_before_blue"]
    rationale: bool = False


DEMO_FILES = [DatasetFile("train.jsonl", "train", "demo"), DatasetFile("val.jsonl", "val", "demo")]


@dg.multi_asset(
    name="demo_dataset",
    group_name="sources",
    code_version=CODE_VERSION,
    outs={f.asset_name: dg.AssetOut(description=f"the synthetic demo's {f.split} file") for f in DEMO_FILES},
    description="The embedded demo's two dataset files, generated once per (size, seed).",
)
def demo_dataset(context: dg.AssetExecutionContext, config: DemoDatasetConfig, workspace: WorkspaceResource):
    root = workspace.path("data", "demo")
    params = {"n_train": config.n_train, "n_val": config.n_val, "seed": config.seed, "tasks": config.tasks}
    params["rationale"] = config.rationale
    marker = root / "params.json"
    # regenerating would rewrite every video and make every cache entry stale: only when the settings change
    if not marker.exists() or json.loads(marker.read_text()) != params:
        context.log.info(f"writing the synthetic demo dataset to {root} ({params})")
        make_demo_dataset(root, **params)
        marker.write_text(json.dumps(params))
    for f in DEMO_FILES:
        value, metadata = prepare_file(workspace, root / f.path, None, f"{f.asset_name}.jsonl")
        yield dg.Output(
            value, output_name=f.asset_name, data_version=file_version(root / f.path), metadata=metadata
        )


def source_assets(files: list[DatasetFile]) -> list[dg.AssetsDefinition]:
    """One asset per file (or the demo's), then ``source_dataset`` reading all of them."""
    per_file = [file_asset(f) for f in files] if files else [demo_dataset]
    specs = files or DEMO_FILES
    return [*per_file, union_asset(specs)]


def union_asset(files: list[DatasetFile]) -> dg.AssetsDefinition:
    @dg.asset(
        name="source_dataset",
        group_name="data",
        code_version=CODE_VERSION,
        ins={f.asset_name: dg.AssetIn() for f in files},
        description="The training and held-out splits: the union of the dataset files of each split (sample "
        "ids prefixed with the file's name when a split has several files).",
    )
    def _union(context: dg.AssetExecutionContext, workspace: WorkspaceResource, **sources) -> dg.Output[dict]:
        out: dict = {}
        for split in SPLITS:
            parts = [(f.asset_name, sources[f.asset_name]) for f in files if f.split == split]
            rows = []
            for asset_name, part in parts:
                for row in read_prepared(part["prepared"]):
                    if len(parts) > 1:
                        row["sample_id"] = f"{asset_name}/{row['sample_id']}"
                    rows.append(row)
            out[split] = str(write_prepared(rows, workspace.path("data", "source", f"{split}.jsonl")))
            out[f"n_{split}"] = len(rows)
            out[f"{split}_files"] = [p["file"] for _, p in parts]
            context.add_output_metadata(
                {
                    f"{split}_rows": len(rows),
                    f"{split}_files": dg.MetadataValue.json({a: p["n"] for a, p in parts}),
                    f"{split}_problem_types": dg.MetadataValue.json(
                        dict(Counter(r["problem_type"] for r in rows))
                    ),
                }
            )
        out["val_file"], out["media_root"] = held_out_file(files, sources, workspace)
        return dg.Output(out, data_version=file_version(out["train"], out["val"]))

    return _union


def held_out_file(files: list[DatasetFile], sources: dict, workspace: WorkspaceResource):
    """(file, media root) the ``reelrl_jsonl`` benchmark evaluates: the one val file as the user wrote it, or
    every val file's samples in one JSONL (ids prefixed as in the union; without the invalid rows a file's
    ``skip_invalid`` dropped, which also makes one file be rewritten) with its media paths relative to the
    folder that holds every file's media root, returned as that file's media root."""
    parts = [(f.asset_name, sources[f.asset_name]) for f in files if f.split == "val"]
    dropped = any(p.get("invalid_rows") for _, p in parts)
    if len(parts) <= 1 and not dropped:
        return (parts[0][1]["file"], parts[0][1]["media_root"]) if parts else ("", None)
    samples = [
        replace(s, problem_id=f"{name}/{s.problem_id}") if len(parts) > 1 else s
        for name, p in parts
        # skipped and invalid rows: listed by the file's asset
        for s in load_samples(
            p["file"], media_root=p["media_root"], skipped=[], skip_invalid=p.get("skip_invalid", False)
        )
    ]
    roots = [os.path.abspath(p["media_root"] or Path(p["file"]).parent) for _, p in parts]
    common = os.path.commonpath(roots)
    out = write_samples_jsonl(samples, workspace.path("data", "source", "val_all.jsonl"), media_root=common)
    return str(out), common
