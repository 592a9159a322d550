"""The Dagster UI served by `dagster dev` renders the ReelRL graph in a real (headless Chromium) browser.

Slow: starts `dagster dev` (~10-25 s) and Chromium. Needs `chromium` + `chromedriver` (installed by
scripts/install_browser.sh when missing and running as root); skipped without them unless
REELRL_REQUIRE_BROWSER=1 (CI), which makes a missing browser a failure. Screenshots go to
$REELRL_UI_SCREENSHOTS when set, else to pytest's tmp dir.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from ui_browser import (
    Browser,
    asset_graph_path,
    asset_path,
    free_port,
    gql,
    require_browser,
    start_dagster,
    stop_dagster,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

# The first-visit modal over the UI; `nux: {enabled: false}` in dagster.yaml (start_dagster writes it)
# removes it.
NUX_MODAL = "Join the Dagster community"


@pytest.fixture(scope="module")
def browser_paths():
    return require_browser()  # before starting dagster: skip/fail fast without a browser


@pytest.fixture(scope="module")
def dagster_ui(browser_paths, tmp_path_factory):
    home = tmp_path_factory.mktemp("dagster_home")
    port = free_port()
    proc = start_dagster(home, port, {"REELRL_HOME": str(home / "reelrl")})
    try:
        yield f"http://127.0.0.1:{port}", port
    finally:
        stop_dagster(proc)


@pytest.fixture(scope="module")
def assets(dagster_ui) -> dict[str, dict]:
    """Asset name -> {group, description, deps}, as the webserver serves them (the UI must show the same)."""
    query = "{ assetNodes { assetKey { path } groupName description dependencyKeys { path } } }"
    return {
        "/".join(n["assetKey"]["path"]): {
            "group": n["groupName"],
            "description": n["description"] or "",
            "deps": sorted("/".join(d["path"]) for d in n["dependencyKeys"]),
        }
        for n in gql(dagster_ui[1], query)["assetNodes"]
    }


@pytest.fixture(scope="module")
def browser(browser_paths, tmp_path_factory):
    chromium, chromedriver = browser_paths
    with Browser(
        tmp_path_factory.mktemp("ui_screenshots"), chromium=chromium, chromedriver=chromedriver
    ) as b:
        yield b


def first_words(markdown: str, n: int) -> str:
    """The first `n` words of a description as the UI shows it (markdown emphasis/code marks dropped)."""
    return " ".join(markdown.replace("`", "").replace("*", "").split()[:n])


def assert_real_screenshot(path: Path, size=(1600, 1000)) -> None:
    """A non-trivial PNG: > 10 kB, the viewport's size, many colours, no colour covering ~everything."""
    assert path.is_file(), path
    assert path.stat().st_size > 10_000, f"{path}: only {path.stat().st_size} bytes"
    with Image.open(path) as img:
        assert img.format == "PNG" and img.size == size, (img.format, img.size)
        colours = img.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) >= 16, f"{path}: {len(colours or [])} distinct colours"
    top = max(count for count, _ in colours)
    assert top < 0.98 * size[0] * size[1], f"{path}: one colour covers {top / (size[0] * size[1]):.1%}"


def test_asset_graph_page_renders_every_asset(dagster_ui, assets, browser):
    base, _ = dagster_ui
    assert {"media_cache", "training_run"} <= set(assets)
    groups = sorted({a["group"] for a in assets.values()})
    # Global asset lineage with every group expanded (collapsed groups show only group names and counts).
    browser.open(base + asset_graph_path(groups))
    text = browser.wait_for_all([*groups, *assets, "Global asset lineage"])
    assert NUX_MODAL not in text
    assert_real_screenshot(browser.screenshot("asset_graph"))


def test_asset_page_renders_description(dagster_ui, assets, browser):
    base, _ = dagster_ui
    description = assets["media_cache"]["description"]
    assert description
    browser.open(base + asset_path("media_cache"))
    # The materialization panel fills in after the description (its own query): wait for all of it.
    group = assets["media_cache"]["group"]
    text = browser.wait_for_all(
        [first_words(description, 8), "Latest materialization", "Never materialized", group]
    )
    assert NUX_MODAL not in text
    assert_real_screenshot(browser.screenshot("asset_media_cache"))


def test_catalog_links_to_asset_pages(dagster_ui, assets, browser):
    base, _ = dagster_ui
    browser.open(base + "/assets")
    browser.wait_for_all(list(assets))
    browser.click_text("training_run")
    browser.wait_until(lambda: browser.url.endswith("/assets/training_run"), 30, "asset page URL")
    browser.wait_for_text(first_words(assets["training_run"]["description"], 5))
    browser.click_text("Lineage", within="[role=tab]")  # not the "Lineage" entry of the main navigation
    browser.wait_until(lambda: "view=lineage" in browser.url, 30, "lineage tab")
    browser.wait_for_all(["Graph depth", *assets["training_run"]["deps"]])  # the tab's graph and neighbours
    assert "media_cache" in assets["training_run"]["deps"]
    assert_real_screenshot(browser.screenshot("asset_training_run_lineage"))
