"""README's table of where each benchmark's files go is the adapters' ``media_layout``, and the layouts say
what loading does: a record's media lies under ``--media-root``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evaluation.adapters import get_adapter, list_benchmarks
from evaluation.adapters.media import MediaLayout, MediaSettings, layout_table
from evaluation.adapters.registry import adapter_class

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"<!-- media-layout:start -->\n(.*?)\n<!-- media-layout:end -->", re.DOTALL)


def expected_table() -> str:
    return layout_table((name, adapter_class(name).media_layout) for name in list_benchmarks())


def test_every_adapter_says_where_its_files_go():
    missing = [n for n in list_benchmarks() if not isinstance(adapter_class(n).media_layout, MediaLayout)]
    assert not missing, f"adapters without a media_layout: {missing}"


def test_readme_table_is_the_adapters_layouts():
    found = BLOCK.search((ROOT / "README.md").read_text(encoding="utf-8"))
    assert found, "README.md has no <!-- media-layout:start --> … <!-- media-layout:end --> block"
    assert found.group(1) == expected_table(), (
        "README's layout table is stale; replace it with:\n" + expected_table()
    )


def test_documented_settings_name_their_source():
    with pytest.raises(ValueError, match="say where"):
        MediaSettings({"max_frames": 8})
    for name in list_benchmarks():
        settings = adapter_class(name).media_settings
        assert settings is None or (settings.values and settings.source), name


# the real records shipped in evaluation/samples (official and EasyVideoR1 files; scorer fixtures are not
# annotation files)
SAMPLES = ROOT / "evaluation" / "samples"
SAMPLE_FILES = sorted(
    (p.parent.name, p)
    for p in SAMPLES.glob("*/*.sample.*")
    if p.name.startswith(("official_", "easyvideor1_", "charades_sta_test"))
)


def test_every_shipped_sample_is_checked():
    assert len({name for name, _ in SAMPLE_FILES}) == 20 and len(SAMPLE_FILES) == 23


@pytest.mark.parametrize(("name", "path"), SAMPLE_FILES, ids=[p.name for _, p in SAMPLE_FILES])
def test_media_of_the_shipped_records_lie_under_media_root(name, path, tmp_path):
    root = tmp_path / "media"
    records = get_adapter(name).load(path, root)
    assert records
    media = [m for r in records for m in (*r.media, *r.images_after)]
    assert media
    outside = [m for m in media if not Path(m).is_relative_to(root)]
    assert not outside, f"{name}: {outside[:3]} not under --media-root {root}"
