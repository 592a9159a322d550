"""LLM-as-judge client for an OpenAI-compatible ``POST {base_url}/chat/completions`` endpoint.

A judge request is the chat ``messages`` rendered from a Jinja2 template in ``templates/``
(``render_judge_request``); ``JudgeClient.grade_many`` sends a batch concurrently and returns one
``JudgeVerdict`` per request, in order. It never raises for a request: a reply it cannot read or a
request that still fails after the retries gives a verdict with ``failed=True``.

Verdict parsing (``parse_score``): the LAST rating in the reply, on a 0..10 scale, divided by 10:
``Score: 7`` / ``**Score:** 7`` / ``Rating = 7`` / JSON ``{"score": 7}`` (key ``score``, ``rating`` or
``grade``; number or numeric string) -> 0.7; ``7/10`` or ``7 out of 10`` -> 0.7; a rating with its own
scale ``Score: 4/5`` -> 0.8. A rating outside [0, scale] or no rating at all is unparseable.

Retries: timeouts, connection errors, HTTP 429 and 5xx are retried up to ``max_retries`` times after
``backoff_s·2^attempt`` seconds (a 429's numeric ``Retry-After`` is used instead, capped at 60 s);
any other 4xx and a 200 whose body is not a chat completion fail at once.

Cache: key = sha256 of ``{model, messages, temperature, max_tokens}`` (canonical JSON). The reply
text (parsed or not; transport failures are not cached) is kept in memory and, with ``cache_path``,
appended as one JSON line ``{"key", "reply"}``; a new client reading the same file sends no request
for those keys. Replies are re-parsed on load, so the cache holds what the judge said, not a score.

Secrets: the API key is read from the environment variable named ``api_key_env`` at request time and
sent as ``Authorization: Bearer …`` (no header when the variable is unset or empty). It is never
stored on the client, and every error text is scrubbed of it before it is logged or kept.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import math
import os
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import jinja2
import orjson

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
MAX_PROMPT_FIELD_CHARS = 16_000  # a longer question/reference/response is cut (judge context is finite)
_RETRY_AFTER_CAP_S = 60.0
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*+")
_NUM = r"(\d++(?:\.\d++)?)"
_SCORE = re.compile(
    r"""\b(?:score|rating|grade)["']?\s*+[:=]\s*+(?:\*\*\s*+)?["']?""" + _NUM
    + r"(?:\s*+(?:/|out\s++of)\s*+" + _NUM + r")?"
    + r"|(?<![\w.])" + _NUM + r"\s*+(?:/|out\s++of)\s*+(10)(?!\d|\.\d)",
    re.IGNORECASE,
)  # fmt: skip


def parse_score(reply: str) -> float | None:
    """The reply's last rating mapped to [0, 1] (rules in the module docstring), or None.

    >>> parse_score("Close in meaning.\\nScore: 7"), parse_score('{"score": 3}'), parse_score("4/5")
    (0.7, 0.3, None)
    """
    last = None
    for last in _SCORE.finditer(reply):  # the last rating is the verdict
        pass
    if last is None:
        return None
    value, scale = (last.group(1), last.group(2) or "10") if last.group(1) else (last.group(3), "10")
    number, denominator = float(value), float(scale)
    if not (math.isfinite(number) and denominator > 0 and 0 <= number <= denominator):
        return None
    return number / denominator


@dataclass(frozen=True)
class JudgeConfig:
    """Endpoint and sampling settings; checked at construction (ValueError naming the field)."""

    base_url: str  # e.g. "http://127.0.0.1:8000/v1"; "/chat/completions" is appended
    model: str
    api_key_env: str = "REELRL_JUDGE_API_KEY"  # the NAME of the variable holding the key
    timeout_s: float = 60.0
    max_retries: int = 3
    backoff_s: float = 1.0
    max_concurrency: int = 8
    max_tokens: int = 512
    temperature: float = 0.0
    cache_path: str | None = None

    def __post_init__(self) -> None:
        def check(ok: bool, name: str, wanted: str) -> None:
            if not ok:
                raise ValueError(f"JudgeConfig.{name} must be {wanted}, got {getattr(self, name)!r}")

        url = self.base_url if isinstance(self.base_url, str) else ""
        check(bool(re.fullmatch(r"https?://[^/\s]++(?:/\S*+)?", url)), "base_url", "an http(s) URL")
        check(isinstance(self.model, str) and bool(self.model.strip()), "model", "a non-empty string")
        check(isinstance(self.api_key_env, str) and bool(_ENV_NAME.fullmatch(self.api_key_env)),
              "api_key_env", "an environment variable name")  # fmt: skip
        for name, positive in (("timeout_s", True), ("backoff_s", False), ("temperature", False)):
            v = getattr(self, name)
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
            check(ok and (v > 0 or not positive), name, f"a finite number {'>' if positive else '>='} 0")
        for name, low in (("max_retries", 0), ("max_concurrency", 1), ("max_tokens", 1)):
            v = getattr(self, name)
            check(isinstance(v, int) and not isinstance(v, bool) and v >= low, name, f"an integer >= {low}")
        path = self.cache_path
        check(path is None or (isinstance(path, (str, os.PathLike)) and bool(str(path))), "cache_path",
              "a file path or None")  # fmt: skip
        object.__setattr__(self, "base_url", url.rstrip("/"))
        object.__setattr__(self, "cache_path", None if path is None else str(path))

    @classmethod
    def optional(cls, base_url: str | None, model: str | None, **settings) -> JudgeConfig | None:
        """The config for user settings where an empty ``base_url`` and ``model`` mean "no judge" (None);
        ValueError when only one of them is set or another setting is invalid. Empty ``cache_path`` = none."""
        if not base_url and not model:
            return None
        if not (base_url and model):
            raise ValueError("the judge URL and model go together (the endpoint and the model it serves)")
        if not settings.get("cache_path"):
            settings["cache_path"] = None
        return cls(base_url=base_url, model=model, **settings)


@dataclass(frozen=True)
class JudgeRequest:
    """One judge call: chat messages as ``(role, content)`` pairs (hashable, so batches dedupe)."""

    messages: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class JudgeVerdict:
    """``score`` in [0, 1], or None with ``failed=True`` and an ``error`` (never the API key)."""

    score: float | None
    failed: bool
    reply: str | None = None
    error: str | None = None
    cached: bool = False


class Judge(Protocol):
    """What a scorer needs from a judge: one verdict per request, in order, never raising."""

    def grade_many(self, requests: Sequence[JudgeRequest]) -> list[JudgeVerdict]: ...


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined, autoescape=False
    )


def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_PROMPT_FIELD_CHARS:
        return text
    return text[:MAX_PROMPT_FIELD_CHARS] + " …[truncated]"


def render_judge_request(
    template: str, *, question: str | None, reference: str, response: str
) -> JudgeRequest:
    """A one-message (user) request from ``templates/<template>`` rendered with the three fields.

    Each field is cut to ``MAX_PROMPT_FIELD_CHARS`` characters (marked ``…[truncated]``).
    """
    text = (
        _environment()
        .get_template(template)
        .render(question=_clip(question), reference=_clip(reference), response=_clip(response))
    )
    return JudgeRequest(messages=(("user", text.strip()),))


def judged_scores(request: JudgeRequest | None, judge: Judge) -> dict[str, float]:
    """A judge-graded scorer's result: ``{"accuracy", "judge_used", "judge_failed"}``.

    No request (nothing to grade): all 0. A failed verdict: accuracy 0 with ``judge_failed`` 1.
    """
    if request is None:
        return {"accuracy": 0.0, "judge_used": 0.0, "judge_failed": 0.0}
    verdict = judge.grade_many([request])[0]
    if verdict.failed or verdict.score is None:
        return {"accuracy": 0.0, "judge_used": 1.0, "judge_failed": 1.0}
    return {"accuracy": min(1.0, max(0.0, verdict.score)), "judge_used": 1.0, "judge_failed": 0.0}


class _Retryable(Exception):
    def __init__(self, message: str, wait_s: float | None = None):
        super().__init__(message)
        self.wait_s = wait_s


class JudgeClient:
    """Grades ``JudgeRequest``s against ``config``'s endpoint; thread-safe; see the module docstring."""

    def __init__(self, config: JudgeConfig):
        self.config = config
        self._lock = threading.Lock()
        self._replies: dict[str, str] = {}
        self._counts = dict.fromkeys(("requests", "retries", "cache_hits", "request_failures",
                                      "parse_failures"), 0)  # fmt: skip
        if config.cache_path is not None:
            self._load_cache(Path(config.cache_path))

    def __repr__(self) -> str:
        return f"JudgeClient(model={self.config.model!r}, base_url={self.config.base_url!r})"

    __str__ = __repr__

    @property
    def stats(self) -> dict[str, int]:
        """Counters since construction: HTTP ``requests`` sent (retries included), ``retries``;
        per verdict given out: ``cache_hits`` (served without a request: cache or a repeat in the
        batch), ``request_failures`` (endpoint failed), ``parse_failures`` (unparseable reply) and
        ``failures`` (the two together)."""
        with self._lock:
            counts = dict(self._counts)
        return {**counts, "failures": counts["request_failures"] + counts["parse_failures"]}

    def key(self, request: JudgeRequest) -> str:
        """Cache key: sha256 of the canonical JSON of model, messages and sampling settings."""
        c = self.config
        payload = {"model": c.model, "messages": [list(m) for m in request.messages],
                   "temperature": c.temperature, "max_tokens": c.max_tokens}  # fmt: skip
        return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()

    def grade(self, request: JudgeRequest) -> JudgeVerdict:
        return self.grade_many([request])[0]

    def grade_many(self, requests: Sequence[JudgeRequest]) -> list[JudgeVerdict]:
        """One verdict per request, in order. Cached and repeated requests send nothing; the rest are
        sent concurrently, at most ``max_concurrency`` at a time."""
        keys = [self.key(r) for r in requests]
        with self._lock:
            replies = {key: self._replies[key] for key in keys if key in self._replies}
        fresh = {key: r for key, r in zip(keys, requests, strict=True) if key not in replies}
        fetched: dict[str, JudgeVerdict] = {}
        if fresh:
            workers = min(self.config.max_concurrency, len(fresh))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="judge") as pool:
                fetched = dict(zip(fresh, pool.map(self._fetch, fresh.values()), strict=True))
        out: list[JudgeVerdict] = []
        for key in keys:
            if key in fetched:  # the first occurrence is the fresh verdict, repeats are cache hits
                verdict = fetched[key]
                fetched[key] = replace(verdict, cached=True)
            else:
                verdict = self._verdict(replies[key], cached=True)
            out.append(verdict)
        with self._lock:
            self._counts["cache_hits"] += sum(v.cached for v in out)
            self._counts["request_failures"] += sum(v.failed and v.reply is None for v in out)
            self._counts["parse_failures"] += sum(v.failed and v.reply is not None for v in out)
        return out

    def _verdict(self, reply: str, cached: bool) -> JudgeVerdict:
        value = parse_score(reply)
        if value is None:
            snippet = reply[:200] + ("…" if len(reply) > 200 else "")
            return JudgeVerdict(None, True, reply, f"unparseable judge reply: {snippet!r}", cached)
        return JudgeVerdict(value, False, reply, None, cached)

    def _fetch(self, request: JudgeRequest) -> JudgeVerdict:
        c = self.config
        messages = [{"role": role, "content": text} for role, text in request.messages]
        body = orjson.dumps(
            {"model": c.model, "messages": messages, "temperature": c.temperature, "max_tokens": c.max_tokens}
        )
        for attempt in range(c.max_retries + 1):
            api_key = os.environ.get(c.api_key_env) or ""  # read per request, never stored
            try:
                reply = self._post(body, api_key)
            except _Retryable as err:
                message = _scrub(str(err), api_key)
                if attempt == c.max_retries:
                    return self._give_up(f"judge request failed after {attempt + 1} attempt(s): {message}")
                wait = err.wait_s if err.wait_s is not None else c.backoff_s * 2**attempt
                log.warning("judge request failed (%s); retry %d/%d in %.2fs", message, attempt + 1,
                            c.max_retries, wait)  # fmt: skip
                with self._lock:
                    self._counts["retries"] += 1
                time.sleep(wait)
            except ValueError as err:  # not retryable: a 4xx or a body that is no chat completion
                return self._give_up(_scrub(str(err), api_key))
            except Exception as err:  # noqa: BLE001  (a verdict, never an exception, reaches the scorer)
                return self._give_up(_scrub(f"{type(err).__name__}: {err}", api_key))
            else:
                self._remember(self.key(request), reply)
                return self._verdict(reply, cached=False)
        raise AssertionError("unreachable")  # the loop returns on its last attempt

    def _give_up(self, message: str) -> JudgeVerdict:
        log.warning("judge verdict failed: %s", message)
        return JudgeVerdict(None, True, None, message, False)

    def _post(self, body: bytes, api_key: str) -> str:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        url = self.config.base_url + "/chat/completions"
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        with self._lock:
            self._counts["requests"] += 1
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            detail = _body_snippet(err)
            if err.code == 429 or err.code >= 500:
                raise _Retryable(f"HTTP {err.code} from {url}: {detail}", _retry_after(err)) from None
            raise ValueError(f"HTTP {err.code} from {url} (not retried): {detail}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as err:
            reason = getattr(err, "reason", err)
            raise _Retryable(f"{type(err).__name__} from {url}: {reason}") from None
        try:
            content = orjson.loads(raw)["choices"][0]["message"]["content"]
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
            content = None
        if not isinstance(content, str):  # a ValueError: not retried (the endpoint answered, wrongly)
            raise ValueError(f"reply from {url} is not a chat completion: {raw[:200]!r}")  # noqa: TRY004
        return content

    def _remember(self, key: str, reply: str) -> None:
        with self._lock:
            self._replies[key] = reply
            if self.config.cache_path is None:
                return
            path = Path(self.config.cache_path)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("ab") as f:
                    f.write(orjson.dumps({"key": key, "reply": reply}) + b"\n")
            except OSError as err:  # the verdict stands; only the rerun saving is lost
                log.warning("judge cache %s not written: %s", path, err)

    def _load_cache(self, path: Path) -> None:
        if not path.exists():
            return
        bad = 0
        for line in path.read_bytes().splitlines():
            try:
                entry = orjson.loads(line)
                key, reply = entry["key"], entry["reply"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                bad += 1  # e.g. a line cut short by a crash mid-write
                continue
            if isinstance(key, str) and isinstance(reply, str):
                self._replies[key] = reply
        if bad:
            log.warning("judge cache %s: skipped %d unreadable line(s)", path, bad)


def _scrub(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


def _body_snippet(err: urllib.error.HTTPError) -> str:
    try:
        return repr(err.read()[:300].decode("utf-8", "replace"))
    except Exception:  # noqa: BLE001  (a broken error body must not hide the status)
        return "<unreadable body>"


def _retry_after(err: urllib.error.HTTPError) -> float | None:
    try:
        value = float(err.headers.get("Retry-After", ""))
    except (TypeError, ValueError):
        return None
    return min(max(value, 0.0), _RETRY_AFTER_CAP_S) if math.isfinite(value) else None
