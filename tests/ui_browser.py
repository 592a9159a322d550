"""Helpers for UI tests: `dagster dev` as a subprocess, GraphQL, and headless Chromium through Selenium.

Not a test module. Typical use::

    chromium, chromedriver = require_browser()          # installs via scripts/install_browser.sh if missing
    proc = start_dagster(home, port, {"REELRL_HOME": ...})
    try:
        with Browser(tmp_path, chromium=chromium, chromedriver=chromedriver) as b:
            b.open(f"http://127.0.0.1:{port}/asset-groups")
            b.wait_for_text("media_cache")
            b.screenshot("graph")
    finally:
        stop_dagster(proc)

Browser binaries: Debian's `chromium` and `chromedriver` (packages chromium, chromium-driver), found on PATH.
Selenium is given both paths explicitly, so Selenium Manager never runs (no network).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Self, TypeVar

REPO = Path(__file__).resolve().parents[1]
INSTALL_SCRIPT = REPO / "scripts" / "install_browser.sh"
REQUIRE_ENV = "REELRL_REQUIRE_BROWSER"  # "1" (CI): a missing browser fails the test instead of skipping it
SCREENSHOTS_ENV = "REELRL_UI_SCREENSHOTS"  # folder for screenshots; default: the folder passed to Browser

# Flags from ../shared/FIELD_NOTES.md ("Dagster 1.13"), minus --virtual-time-budget (only meaningful for
# one-shot `chromium --screenshot`; under WebDriver the test itself waits for the page).
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
)

T = TypeVar("T")


class BrowserUnavailable(RuntimeError):
    """chromium/chromedriver (or selenium) missing and could not be installed."""


# --------------------------------------------------------------------------- browser install
def find_browser() -> tuple[str, str] | None:
    """(chromium, chromedriver) when both are on PATH, else None."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None


def ensure_browser() -> tuple[str, str]:
    """Paths of chromium and chromedriver; runs scripts/install_browser.sh (apt, as root) when either is
    missing. Raises BrowserUnavailable with the installer's output when they are still missing."""
    found = find_browser()
    if found:
        return found
    proc = subprocess.run(
        ["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=900, check=False
    )
    found = find_browser()
    if found:
        return found
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
    raise BrowserUnavailable(
        f"chromium/chromedriver not on PATH and {INSTALL_SCRIPT.name} could not install them "
        f"(exit {proc.returncode}):\n{tail}"
    )


def browser_required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


def require_browser() -> tuple[str, str]:
    """For tests: ensure_browser() + selenium importable; on failure pytest.skip, or pytest.fail when
    REELRL_REQUIRE_BROWSER=1 (CI)."""
    import pytest

    try:
        import selenium  # noqa: F401

        return ensure_browser()
    except (BrowserUnavailable, ImportError) as exc:
        msg = f"headless browser unavailable: {exc}"
        if browser_required():
            pytest.fail(f"{msg} ({REQUIRE_ENV}=1)", pytrace=False)
        pytest.skip(f"{msg} (set {REQUIRE_ENV}=1 to make this a failure)")


# ------------------------------------------------------------------------------- dagster dev
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_dagster_yaml(home: Path, extra_yaml: str = "") -> Path:
    """dagster.yaml for a test DAGSTER_HOME: no telemetry, no "join the community" modal over the UI,
    plus ``extra_yaml`` (e.g. a run coordinator)."""
    path = Path(home) / "dagster.yaml"
    path.write_text("telemetry:\n  enabled: false\nnux:\n  enabled: false\n" + extra_yaml)
    return path


# Shells here start background jobs with SIGTERM/SIGINT ignored and children inherit that (FIELD_NOTES), so
# the server is exec'd through this shim, which restores the default handlers (kept across exec) for
# stop_dagster() to work. A shim rather than preexec_fn: the latter is unsafe when the caller runs threads.
_DEFAULT_SIGNALS_EXEC = (
    "import os, signal, sys\n"
    "for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):\n"
    "    signal.signal(s, signal.SIG_DFL)\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)


def start_dagster(
    home: Path,
    port: int,
    extra_env: dict | None = None,
    *,
    workspace: str = "workspace.yaml",
    cwd: Path | str = REPO,
    timeout: float = 180,
    extra_yaml: str = "",
) -> subprocess.Popen:
    """Start `dagster dev -w workspace.yaml` (webserver + daemon) on 127.0.0.1:`port` with DAGSTER_HOME=`home`
    (dagster.yaml written there) and `extra_env` on top of os.environ; return once every code location is
    loaded. `cwd` holds the workspace file and the code (default: the repo). Output goes to
    `home/dagster_dev.log` (`proc.log_path`). The process leads its own session; stop it with stop_dagster.
    Raises (after stopping it) when it exits, a code location fails to load, or `timeout` s pass."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    write_dagster_yaml(home, extra_yaml)
    env = {**os.environ, "DAGSTER_HOME": str(home), **{k: str(v) for k, v in (extra_env or {}).items()}}
    exe = Path(sys.executable).with_name("dagster")
    log_path = home / "dagster_dev.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", _DEFAULT_SIGNALS_EXEC, str(exe), "dev", "-w", workspace]
            + ["-h", "127.0.0.1", "-p", str(port)],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    proc.log_path = log_path  # type: ignore[attr-defined]
    proc.port = port  # type: ignore[attr-defined]
    try:
        wait_for_dagster(port, timeout, proc)
    except BaseException:
        stop_dagster(proc)
        raise
    return proc


def _log_tail(proc: subprocess.Popen, n: int = 40) -> str:
    path = getattr(proc, "log_path", None)
    if not path or not Path(path).exists():
        return ""
    lines = Path(path).read_text(errors="replace").splitlines()[-n:]
    return "\n".join(lines)


def wait_for_dagster(port: int, timeout: float = 180, proc: subprocess.Popen | None = None) -> None:
    """Wait until the webserver answers and all code locations report LOADED (raises on load errors)."""
    query = """{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
        locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
    deadline, last = time.time() + timeout, "no answer"
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"dagster dev exited with {proc.returncode}:\n{_log_tail(proc)}")
        try:
            ws = gql(port, query, timeout=5)["workspaceOrError"]
            entries = ws.get("locationEntries") or []
            errors = [
                e for e in entries if (e["locationOrLoadError"] or {}).get("__typename") == "PythonError"
            ]
            if errors:
                raise RuntimeError(
                    f"code location failed to load: {errors[0]['locationOrLoadError']['message']}"
                )
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                return
            last = f"locations: {[(e['name'], e['loadStatus']) for e in entries]}"
        except (OSError, GraphQLError) as exc:
            last = repr(exc)
        time.sleep(1)
    tail = _log_tail(proc) if proc is not None else ""
    raise TimeoutError(f"dagster dev on port {port} not ready within {timeout:.0f} s ({last})\n{tail}")


def stop_dagster(proc: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM the server's process group (webserver, daemon, code server), SIGKILL what is left."""
    pgid = proc.pid  # start_new_session: the group id is the leader's pid
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    # Children can outlive the leader briefly; give them a moment, then kill the group.
    deadline = time.time() + 5
    while time.time() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        pass


class GraphQLError(RuntimeError):
    pass


def gql(port: int, query: str, variables: dict | None = None, *, timeout: float = 30) -> dict:
    """POST a GraphQL query to the webserver on 127.0.0.1:`port`; returns `data`; raises GraphQLError on
    errors."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise GraphQLError(f"HTTP {exc.code}: {exc.read()[:2000]!r}") from exc
    if body.get("errors"):
        raise GraphQLError(json.dumps(body["errors"])[:2000])
    return body["data"]


# --------------------------------------------------------------------------------- UI routes
# Dagster 1.13 UI routes (checked against 1.13.27):
#   /asset-groups                         "Global asset lineage": the graph, groups collapsed to tiles
#   /asset-groups?expanded=<ids>          the same with those groups expanded (asset names rendered)
#   /assets                               the catalog: a table of every asset with its description
#   /assets/<key>                         an asset's page (Overview tab: status, description, definition)
#   /assets/<key>?view=lineage|events     its other tabs
#   /locations/<location>/asset-groups/<group>   one group's lineage graph (asset nodes with status)
def asset_graph_path(groups: Iterable[str] = ()) -> str:
    """Path of the global asset graph with `groups` expanded (the UI keeps them in `?expanded=`, as
    `global@global:<group>` ids)."""
    groups = list(groups)
    return "/asset-groups" + ("?expanded=" + ",".join(f"global@global:{g}" for g in groups) if groups else "")


def asset_path(key: str | Iterable[str]) -> str:
    """Path of an asset's page; `key` is "a/b" or ["a", "b"]."""
    parts = key.split("/") if isinstance(key, str) else list(key)
    return "/assets/" + "/".join(urllib.parse.quote(p, safe="") for p in parts)


# ----------------------------------------------------------------------------------- browser
_FIND_CLICKABLE_JS = """
const [text, exact, within] = arguments;
const norm = s => (s || '').replace(/\\s+/g, ' ').trim();
const want = norm(text);
const visible = el => {
  const r = el.getBoundingClientRect(), st = getComputedStyle(el);
  return r.width > 0 && r.height > 0 && st.visibility !== 'hidden' && st.display !== 'none';
};
const matches = el => exact ? norm(el.innerText) === want : norm(el.innerText).includes(want);
const clickable = 'button, a, [role=button], [role=link], [role=tab], [role=menuitem], [role=option], '
  + '[role=checkbox], [role=switch], label, summary, input[type=button], input[type=submit]';
const roots = within ? [...document.querySelectorAll(within)] : [document.body];
const els = new Set();
for (const root of roots) {
  if (root !== document.body) els.add(root);
  root.querySelectorAll('*').forEach(el => els.add(el));
}
// Innermost visible elements showing the text (in document order), each mapped to its nearest clickable
// ancestor-or-self when there is one.
const hits = [...els].filter(el => el.innerText !== undefined && visible(el) && matches(el))
  .filter(el => ![...el.children].some(c => visible(c) && matches(c)));
const out = [];
for (const el of hits) {
  const c = el.closest(clickable);
  const target = c && visible(c) ? c : el;
  if (!out.includes(target)) out.push(target);
}
return out;
"""


class Browser:
    """Headless Chromium via Selenium's Chrome WebDriver (window 1600x1000 unless told otherwise).

    `shots_dir`: where screenshot() writes PNGs, unless $REELRL_UI_SCREENSHOTS is set (that wins).
    The raw WebDriver is `self.driver` for anything not wrapped here."""

    def __init__(
        self,
        shots_dir: Path | str,
        *,
        chromium: str | None = None,
        chromedriver: str | None = None,
        width: int = 1600,
        height: int = 1000,
        extra_flags: Iterable[str] = (),
    ) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        if not (chromium and chromedriver):
            chromium, chromedriver = ensure_browser()
        self.shots_dir = Path(os.environ.get(SCREENSHOTS_ENV) or shots_dir)
        self.shots_dir.mkdir(parents=True, exist_ok=True)
        self._profile = tempfile.mkdtemp(prefix="reelrl-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in (*CHROMIUM_FLAGS, f"--window-size={width},{height}", f"--user-data-dir={self._profile}"):
            options.add_argument(flag)
        for flag in extra_flags:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(
            executable_path=chromedriver, log_output=str(Path(self._profile) / "chromedriver.log")
        )
        try:
            self.driver = webdriver.Chrome(service=service, options=options)
        except BaseException:
            shutil.rmtree(self._profile, ignore_errors=True)
            raise
        try:
            # headless=new reserves room for window decorations: size the window so that the viewport
            # is width x height
            self.driver.set_window_size(width, height)
            inner_w, inner_h = self.driver.execute_script("return [window.innerWidth, window.innerHeight];")
            if (inner_w, inner_h) != (width, height):
                self.driver.set_window_size(2 * width - inner_w, 2 * height - inner_h)
            self.driver.set_page_load_timeout(60)
        except BaseException:
            self.close()
            raise

    # -- context manager
    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        driver, self.driver = getattr(self, "driver", None), None
        if driver is not None:
            try:
                driver.quit()
            finally:
                shutil.rmtree(self._profile, ignore_errors=True)

    # -- navigation and page text
    def open(self, url: str) -> None:
        self.driver.get(url)

    @property
    def url(self) -> str:
        return self.driver.current_url

    def text(self) -> str:
        """The page's rendered text (`document.body.innerText`; "" before the body exists)."""
        return self.driver.execute_script("return document.body ? document.body.innerText : '';") or ""

    def wait_until(self, predicate: Callable[[], T], timeout: float = 60, what: str = "condition") -> T:
        """Poll `predicate` (every 0.25 s) until it returns something truthy; return that. On timeout, save a
        screenshot named `timeout-N` and raise TimeoutError with the start of the page text."""
        from selenium.common.exceptions import WebDriverException

        deadline = time.time() + timeout
        while True:
            try:
                value = predicate()
            except WebDriverException:  # stale elements, page mid-navigation
                value = None
            if value:
                return value
            if time.time() >= deadline:
                break
            time.sleep(0.25)
        shot = self._debug_screenshot()
        try:
            snippet = self.text()[:1500].replace("\n", " | ")
        except WebDriverException as exc:
            snippet = f"<unreadable: {exc.msg}>"
        raise TimeoutError(
            f"{what} not met within {timeout:.0f} s at {self.url} (screenshot {shot}); page: {snippet}"
        )

    def wait_for_text(self, text: str, timeout: float = 60) -> str:
        """Wait until `text` is part of the rendered page text; return the page text."""
        return self.wait_until(lambda: (t := self.text()) and text in t and t, timeout, f"text {text!r}")

    def wait_for_all(self, texts: Iterable[str], timeout: float = 60) -> str:
        """Wait until every one of `texts` is rendered; return the page text."""
        texts = list(texts)

        def ok():
            t = self.text()
            return t if all(x in t for x in texts) else None

        return self.wait_until(ok, timeout, f"all of {texts!r}")

    def wait_for_any(self, texts: Iterable[str], timeout: float = 60) -> str:
        """Wait until one of `texts` is rendered; return the first of them (in the given order) that is."""
        texts = list(texts)

        def ok():
            t = self.text()
            return next((x for x in texts if x in t), None)

        return self.wait_until(ok, timeout, f"any of {texts!r}")

    def wait_for_no_text(self, text: str, timeout: float = 60) -> None:
        """Wait until `text` is no longer rendered (spinners, "Loading..." placeholders)."""
        self.wait_until(lambda: text not in self.text(), timeout, f"absence of {text!r}")

    # -- interaction
    def find_all_text(self, text: str, *, exact: bool = True, within: str | None = None) -> list:
        """Visible elements showing `text`, in document order: for each innermost element whose text is `text`
        (`exact=False`: contains it), its nearest clickable ancestor-or-self (button, link, tab, menu item,
        label, ...) or, when none, the element itself. `within`: CSS selector; only those elements and their
        descendants are searched (e.g. "[role=tab]", "nav", "[role=dialog]")."""
        return self.driver.execute_script(_FIND_CLICKABLE_JS, text, exact, within) or []

    def find_text(self, text: str, *, exact: bool = True, within: str | None = None, nth: int = 0):
        """The `nth` element of find_all_text(), or None."""
        found = self.find_all_text(text, exact=exact, within=within)
        return found[nth] if len(found) > nth else None

    def click_text(
        self, text: str, *, exact: bool = True, within: str | None = None, nth: int = 0, timeout: float = 30
    ) -> None:
        """Click the button/link/tab/menu item showing `text` (see find_all_text; the first match unless
        `nth`).
        Texts that occur twice (the "Lineage" nav link and the asset page's "Lineage" tab) need `within`,
        e.g. click_text("Lineage", within="[role=tab]"). Waits for the element to appear and retries while it
        is covered or re-rendered."""
        from selenium.common.exceptions import WebDriverException

        def attempt():
            el = self.find_text(text, exact=exact, within=within, nth=nth)
            if el is None:
                return False
            self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", el)
            try:
                el.click()
            except WebDriverException:  # intercepted by an overlay, stale after a re-render: try again
                return False
            return True

        self.wait_until(attempt, timeout, f"clickable {text!r}")

    # -- artefacts
    def screenshot(self, name: str) -> Path:
        """Save a PNG of the viewport as `<shots_dir>/<name>.png`; returns its path."""
        path = self.shots_dir / (name if name.endswith(".png") else f"{name}.png")
        path.parent.mkdir(parents=True, exist_ok=True)
        if not self.driver.save_screenshot(str(path)):
            raise RuntimeError(f"screenshot {path} failed")
        return path

    def console_log(self) -> list[dict]:
        """Browser console entries since the last call (level, message)."""
        from selenium.common.exceptions import WebDriverException

        try:
            return self.driver.get_log("browser")
        except WebDriverException:
            return []

    def _debug_screenshot(self) -> Path | None:
        from selenium.common.exceptions import WebDriverException

        n = len(list(self.shots_dir.glob("timeout-*.png")))
        try:
            return self.screenshot(f"timeout-{n}")
        except (WebDriverException, OSError, RuntimeError):
            return None
