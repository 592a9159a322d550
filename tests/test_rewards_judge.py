"""LLM judge client: real HTTP servers only (``reelrl serve`` with the tiny model, scripted stdlib servers).

``ScriptedServer`` (also used by the open-ended and preference tests) answers the n-th request with
the n-th scripted step (the last step repeats) and records every request's headers and body.
"""

import doctest
import logging
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reelrl.serve import make_server
from training.engines.hf import HFEngine
from training.rewards import judge as judge_module
from training.rewards import openended as _openended  # noqa: F401  (registers open-ended)
from training.rewards import preference as _preference  # noqa: F401  (registers preference)
from training.rewards import register_scorer, registry, score, score_batch
from training.rewards.judge import (
    JudgeClient,
    JudgeConfig,
    JudgeRequest,
    JudgeVerdict,
    judged_scores,
    parse_score,
    render_judge_request,
)

SECRET = "sk-test-4f1b2c9e-never-shown"


def reply(text, delay=0.0):
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
    return (200, orjson.dumps(body), delay, {})


def status(code, body=b'{"error": "nope"}', delay=0.0, headers=None):
    return (code, body, delay, headers or {})


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, steps):
        super().__init__(("127.0.0.1", 0), _Scripted)
        self.steps, self.requests, self.lock = list(steps), [], threading.Lock()
        self.in_flight = self.peak = 0
        threading.Thread(target=self.serve_forever, args=(0.02,), daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def stop(self):
        self.shutdown()
        self.server_close()


class _Scripted(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server = self.server
        with server.lock:
            step = server.steps[min(len(server.requests), len(server.steps) - 1)]
            server.requests.append({"headers": dict(self.headers), "body": body, "path": self.path})
            server.in_flight += 1
            server.peak = max(server.peak, server.in_flight)
        code, data, delay, headers = step
        time.sleep(delay)
        if data == b"ECHO-AUTH":  # a hostile server that echoes the credentials it got
            data = f"bad key {self.headers.get('Authorization')}".encode()
        with server.lock:
            server.in_flight -= 1
        try:
            self.send_response(code)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def scripted():
    servers = []

    def make(*steps):
        servers.append(ScriptedServer(steps))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


def client_for(url, **overrides):
    settings = {"timeout_s": 5.0, "max_retries": 2, "backoff_s": 0.01, "max_tokens": 8, **overrides}
    return JudgeClient(JudgeConfig(base_url=url, model="judge", **settings))


def request(text="Is this right?"):
    return JudgeRequest(messages=(("user", text),))


# ------------------------------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The answer matches.\nScore: 7", 0.7),
        ("**Score:** 10", 1.0),
        ("score = 0", 0.0),
        ('{"score": 3}', 0.3),
        ("{'rating': \"8\"}", 0.8),
        ("Grade: 6.5", 0.65),
        ("I'd give it 7/10.", 0.7),
        ("7 out of 10", 0.7),
        ("Score: 4/5", 0.8),  # a rating with its own scale
        ("Score: 9 at first, but on reflection Score: 2", 0.2),  # the last rating wins
        ("Score: 11", None),  # outside 0..10
        ("Score: 6/5", None),
        ("4/5", None),  # a bare fraction is only read over 10
        ("Score: -3", None),
        ("Judgement: 1", None),
        ("", None),
        ("Score: N", None),
        ("1.5/10", 0.15),
        ("x3/10", None),  # glued to a word: not a rating
    ],
)
def test_parse_score(text, expected):
    assert parse_score(text) == expected


REPLY_FRAGMENTS = ["Score", "score", ":", "=", " ", "**", "/", "10", "7", "0.5", "out of", "{", "}", '"',
                   "1e999", "99999999999999999999", "-", ".", "\n", "Rating", "é"]  # fmt: skip


@settings(max_examples=200, deadline=None, database=None)
@given(st.one_of(st.text(max_size=200), st.lists(st.sampled_from(REPLY_FRAGMENTS), max_size=30).map("".join)))
def test_parse_score_in_range_on_any_reply(text):
    value = parse_score(text)
    assert value is None or (isinstance(value, float) and 0.0 <= value <= 1.0)


@pytest.mark.parametrize(
    "unit", ["Score: ", "Score: 1", "1/", "9", "score:**", "1.1.", " out of ", "Score: 7/"]
)
def test_parse_score_100kb(unit):
    text = (unit * (100_000 // len(unit) + 1))[:100_000]
    value = parse_score(text)
    assert value is None or 0.0 <= value <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize(
    "unit", ["Score: ", "Score: 1", "1/", "9", "score:**", "1.1.", " out of ", "Score: 7/"]
)
def test_parse_score_100kb_is_linear(unit):
    start = time.perf_counter()  # linear: milliseconds; a quadratic regex: minutes
    test_parse_score_100kb(unit)
    assert time.perf_counter() - start < 3.0


def test_docstring_examples():
    result = doctest.testmod(judge_module)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"base_url": "ftp://x"}, "base_url"),
        ({"base_url": "localhost:8000"}, "base_url"),
        ({"base_url": ""}, "base_url"),
        ({"model": " "}, "model"),
        ({"api_key_env": "MY-KEY"}, "api_key_env"),
        ({"api_key_env": ""}, "api_key_env"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"timeout_s": float("inf")}, "timeout_s"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 1.5}, "max_retries"),
        ({"max_retries": True}, "max_retries"),
        ({"backoff_s": -0.1}, "backoff_s"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": float("nan")}, "temperature"),
        ({"temperature": -1}, "temperature"),
        ({"cache_path": ""}, "cache_path"),
        ({"cache_path": 3}, "cache_path"),
    ],
)
def test_config_validation(overrides, field):
    settings = {"base_url": "http://127.0.0.1:1/v1", "model": "m", **overrides}
    with pytest.raises(ValueError, match=f"JudgeConfig.{field} "):
        JudgeConfig(**settings)


def test_config_normalises_and_keeps_no_secret():
    config = JudgeConfig(base_url="https://judge.example/v1/", model="m", cache_path=os.path.join("a", "b"))
    assert config.base_url == "https://judge.example/v1" and config.cache_path == os.path.join("a", "b")
    assert (config.temperature, config.api_key_env) == (0.0, "REELRL_JUDGE_API_KEY")


def test_render_judge_request_fields_and_truncation():
    req = render_judge_request(
        "judge_open_ended.jinja", question="What color?", reference="red", response="blue"
    )
    ((role, text),) = req.messages
    assert role == "user"
    assert (
        "Question:\nWhat color?" in text
        and "Reference answer:\nred" in text
        and "Model answer:\nblue" in text
    )
    assert text.rstrip().endswith("with N an integer from 0 to 10.")
    without = render_judge_request("judge_open_ended.jinja", question=None, reference="red", response="x")
    assert "Question:" not in without.messages[0][1]
    long = render_judge_request(
        "judge_preference.jinja", question=None, reference="Tie", response="y" * 50_000
    )
    assert "y" * 16_000 + " …[truncated]" in long.messages[0][1] and "y" * 16_001 not in long.messages[0][1]


def test_template_fields_are_data_not_template_code():
    req = render_judge_request("judge_open_ended.jinja", question="{% if x %}", reference="{{ 7 * 7 }}",
                               response="{# hidden #} Score: 10")  # fmt: skip
    text = req.messages[0][1]
    assert "{% if x %}" in text and "{{ 7 * 7 }}" in text and "{# hidden #} Score: 10" in text


class FixedJudge:
    """A judge answering every request with one verdict (records what it was asked)."""

    def __init__(self, verdict):
        self.verdict, self.asked = verdict, []

    def grade_many(self, requests):
        self.asked.extend(requests)
        return [self.verdict for _ in requests]


@settings(max_examples=80, deadline=None, database=None)
@given(
    response=st.one_of(st.text(max_size=300), st.sampled_from(["", "<answer></answer>", "<answer>x"])),
    problem_type=st.sampled_from(["open-ended", "preference"]),
    verdict=st.sampled_from(
        [JudgeVerdict(0.7, False, "Score: 7"), JudgeVerdict(None, True, None, "HTTP 500")]
    ),
)
def test_judged_families_stay_in_range(response, problem_type, verdict):
    truth = "Response 2" if problem_type == "preference" else "the cat sat on the mat"
    result = score(response, truth, problem_type, judge=FixedJudge(verdict), question="q?")
    assert 0.0 <= result["accuracy"] <= 1.0
    assert result["judge_used"] in (0.0, 1.0) and result["judge_failed"] in (0.0, result["judge_used"])


# ------------------------------------------------------------------------- scripted-server behaviour


def test_verdicts_parsed_end_to_end(scripted):
    replies = ["Score: 8", "Close enough, 7/10.", '{"score": 3}', "**Score:** 10", "I cannot grade this."]
    server = scripted(*[reply(r) for r in replies])
    judge = client_for(server.url, max_concurrency=1)  # one at a time: replies reach requests in order
    verdicts = judge.grade_many([request(f"q{i}") for i in range(5)])
    assert [v.score for v in verdicts] == [0.8, 0.7, 0.3, 1.0, None]
    assert [v.failed for v in verdicts] == [False] * 4 + [True]
    assert verdicts[4].reply == "I cannot grade this." and "unparseable" in verdicts[4].error
    sent = server.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"] == {"model": "judge", "messages": [{"role": "user", "content": "q0"}],
                            "temperature": 0.0, "max_tokens": 8}  # fmt: skip
    assert judge.stats == {"requests": 5, "retries": 0, "cache_hits": 0, "request_failures": 0,
                           "parse_failures": 1, "failures": 1}  # fmt: skip


@pytest.mark.parametrize("code", [429, 500, 502, 503])
def test_retries_transient_errors(scripted, code):
    server = scripted(status(code), status(code), reply("Score: 9"))
    judge = client_for(server.url)
    assert judge.grade(request()) == JudgeVerdict(0.9, False, "Score: 9", None, False)
    assert len(server.requests) == 3
    assert judge.stats["retries"] == 2 and judge.stats["requests"] == 3


@pytest.mark.parametrize("code", [400, 401, 403, 404, 422])
def test_other_4xx_fail_without_retry(scripted, code):
    server = scripted(status(code), reply("Score: 9"))
    verdict = client_for(server.url).grade(request())
    assert verdict.failed and verdict.score is None and verdict.reply is None
    assert f"HTTP {code} " in verdict.error and "not retried" in verdict.error
    assert len(server.requests) == 1


def test_gives_up_after_max_retries(scripted):
    server = scripted(status(503))
    judge = client_for(server.url, max_retries=3)
    verdict = judge.grade(request())
    assert verdict.failed and "failed after 4 attempt(s)" in verdict.error and "HTTP 503" in verdict.error
    assert len(server.requests) == 4
    assert judge.stats["request_failures"] == 1 and judge.stats["failures"] == 1
    # A failure is not cached: the next call asks again.
    judge.grade(request())
    assert len(server.requests) == 8


def test_timeout_is_retried_then_fails(scripted):
    server = scripted(reply("Score: 5", delay=0.6))
    judge = client_for(server.url, timeout_s=0.15, max_retries=1)
    verdict = judge.grade(request())
    assert verdict.failed and "timed out" in verdict.error
    assert "failed after 2 attempt(s)" in verdict.error and judge.stats["retries"] == 1
    assert len(server.requests) == 2


@pytest.mark.slow
def test_timeout_ends_an_attempt_without_waiting_for_the_reply(scripted):
    server = scripted(reply("Score: 5", delay=10.0))
    judge = client_for(server.url, timeout_s=0.15, max_retries=1)
    start = time.perf_counter()
    verdict = judge.grade(request())
    assert time.perf_counter() - start < 5.0  # two 0.15 s attempts (~0.3 s), not 2 x 10 s
    assert verdict.failed and "timed out" in verdict.error


def test_timeout_then_success(scripted):
    server = scripted(reply("Score: 5", delay=0.6), reply("Score: 6"))
    assert client_for(server.url, timeout_s=0.15).grade(request()).score == 0.6


def test_connection_refused_is_a_failed_verdict():
    probe = ScriptedServer([reply("x")])
    url = probe.url
    probe.stop()  # nothing listens on this port any more
    judge = client_for(url, max_retries=1)
    verdict = judge.grade(request())
    assert verdict.failed and "URLError" in verdict.error and "attempt(s)" in verdict.error
    assert judge.stats["requests"] == 2


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"choices": []}', b'{"choices": [{"message": {}}]}'])
def test_malformed_200_fails_without_retry(scripted, body):
    server = scripted(status(200, body))
    verdict = client_for(server.url).grade(request())
    assert verdict.failed and "is not a chat completion" in verdict.error
    assert len(server.requests) == 1


def test_retry_after_header_is_honoured(scripted, monkeypatch):
    waits = []  # the delays the client chose (not slept: only the judge module's time is replaced)
    monkeypatch.setattr(judge_module, "time", SimpleNamespace(sleep=waits.append))
    server = scripted(status(429, headers={"Retry-After": "0"}), status(503), reply("Score: 1"))
    assert client_for(server.url, backoff_s=30.0).grade(request()).score == 0.1
    assert waits == [0.0, 60.0]  # Retry-After 0, not the 30 s backoff; then backoff_s·2^1 without one
    assert len(server.requests) == 3


@pytest.mark.slow
def test_retry_after_header_is_honoured_in_wall_time(scripted):
    server = scripted(status(429, headers={"Retry-After": "0"}), reply("Score: 1"))
    start = time.perf_counter()
    assert client_for(server.url, backoff_s=30.0).grade(request()).score == 0.1
    assert time.perf_counter() - start < 10.0  # Retry-After 0, not the 30 s backoff


def test_concurrency_is_bounded(scripted):
    server = scripted(reply("Score: 5", delay=0.3))
    judge = client_for(server.url, max_concurrency=3)
    verdicts = judge.grade_many([request(f"q{i}") for i in range(6)])
    assert [v.score for v in verdicts] == [0.5] * 6
    assert server.peak == 3  # three at a time (each sleeps 0.3 s in the server), never more


def test_repeats_in_a_batch_are_sent_once(scripted):
    server = scripted(reply("Score: 4"))
    judge = client_for(server.url)
    first, again, other = judge.grade_many([request("a"), request("a"), request("b")])
    assert len(server.requests) == 2
    assert (first.cached, again.cached, other.cached) == (False, True, False)
    assert first.score == again.score == 0.4 and judge.stats["cache_hits"] == 1


# ------------------------------------------------------------------------------------------ secrets


def test_bearer_key_read_from_the_environment_at_request_time(scripted, monkeypatch):
    server = scripted(reply("Score: 5"))
    judge = client_for(server.url)
    monkeypatch.delenv("REELRL_JUDGE_API_KEY", raising=False)
    judge.grade(request("no key"))
    assert "Authorization" not in server.requests[-1]["headers"]
    monkeypatch.setenv("REELRL_JUDGE_API_KEY", SECRET)
    judge.grade(request("with key"))
    assert server.requests[-1]["headers"]["Authorization"] == f"Bearer {SECRET}"
    monkeypatch.setenv("REELRL_JUDGE_API_KEY", "rotated")
    judge.grade(request("rotated key"))
    assert server.requests[-1]["headers"]["Authorization"] == "Bearer rotated"
    other = JudgeClient(JudgeConfig(base_url=server.url, model="judge", api_key_env="OTHER_JUDGE_KEY"))
    monkeypatch.setenv("OTHER_JUDGE_KEY", "k2")
    other.grade(request("other env"))
    assert server.requests[-1]["headers"]["Authorization"] == "Bearer k2"


def test_key_never_logged_or_shown(scripted, monkeypatch, caplog):
    monkeypatch.setenv("REELRL_JUDGE_API_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    # A server that echoes the Authorization header: first in retried 500s, then in a final 401.
    server = scripted(status(500, b"ECHO-AUTH"), status(401, b"ECHO-AUTH"))
    judge = client_for(server.url)
    verdict = judge.grade(request())
    assert server.requests[0]["headers"]["Authorization"] == f"Bearer {SECRET}"  # it was sent
    assert verdict.failed and "HTTP 401" in verdict.error and "bad key Bearer ***" in verdict.error
    assert "HTTP 500" in caplog.text and "Bearer ***" in caplog.text  # the retry was logged, scrubbed
    refused = client_for("http://127.0.0.1:9/v1", max_retries=0).grade(request())  # transport error text
    shown = [caplog.text, repr(verdict), str(verdict), repr(refused), repr(judge), str(judge),
             repr(judge.config), str(judge.stats), repr(judge.__dict__)]  # fmt: skip
    assert not [text for text in shown if SECRET in text]


# ------------------------------------------------------------------------------------------- caching


def test_cache_key_covers_model_messages_and_sampling():
    base = client_for("http://127.0.0.1:1/v1")
    key = base.key(request("a"))
    assert len(key) == 64 and key == client_for("http://127.0.0.1:2/v1").key(request("a"))  # URL is not in it
    assert key != base.key(request("b"))
    assert key != base.key(JudgeRequest(messages=(("system", "a"),)))
    for change in ({"max_tokens": 9}, {"temperature": 0.5}):
        assert key != client_for("http://127.0.0.1:1/v1", **change).key(request("a"))
    other_model = JudgeClient(JudgeConfig(base_url="http://127.0.0.1:1/v1", model="other", max_tokens=8))
    assert key != other_model.key(request("a"))


def test_cache_file_spares_the_endpoint_on_rerun(scripted, tmp_path, caplog):
    path = tmp_path / "judge" / "cache.jsonl"
    server = scripted(reply("Score: 6"), reply("no idea"), status(500))
    first = client_for(server.url, cache_path=str(path), max_concurrency=1, max_retries=0)
    verdicts = first.grade_many([request("a"), request("b"), request("c")])
    assert [(v.score, v.failed) for v in verdicts] == [(0.6, False), (None, True), (None, True)]
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [entry["reply"] for entry in lines] == ["Score: 6", "no idea"]  # transport failures not cached
    assert lines[0]["key"] == first.key(request("a"))
    with path.open("ab") as f:
        f.write(b'{"key": "cut short by a cra')  # a crash mid-write leaves a broken last line
    rerun = client_for(server.url, cache_path=str(path))
    assert "skipped 1 unreadable line" in caplog.text
    again = rerun.grade_many([request("a"), request("b")])
    assert len(server.requests) == 3  # nothing new was sent
    assert [(v.score, v.failed, v.cached) for v in again] == [(0.6, False, True), (None, True, True)]
    assert rerun.stats == {"requests": 0, "retries": 0, "cache_hits": 2, "request_failures": 0,
                           "parse_failures": 1, "failures": 1}  # fmt: skip


def test_unwritable_cache_still_gives_verdicts(scripted, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    server = scripted(reply("Score: 2"))
    judge = client_for(server.url, cache_path=str(blocker / "cache.jsonl"))  # parent is a file
    assert judge.grade(request()).score == 0.2


# --------------------------------------------------------------------- against `reelrl serve` (tiny)


@pytest.fixture(scope="module")
def tiny_server(tiny_models):
    server = make_server(HFEngine.from_pretrained(tiny_models["qwen2_5_vl"]), "127.0.0.1", 0, "tiny")
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def tiny_client(server, **overrides):
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    settings = {"model": "tiny", "max_tokens": 6, "max_retries": 0, "timeout_s": 60.0, **overrides}
    return JudgeClient(JudgeConfig(base_url=url, **settings))


def test_tiny_server_plumbing_parse_failures_and_cache(tiny_server, tmp_path):
    before = tiny_server.counts["completions"]
    path = tmp_path / "cache.jsonl"
    judge = tiny_client(tiny_server, cache_path=str(path))
    requests = [render_judge_request("judge_open_ended.jinja", question="What?", reference="a red square",
                                     response=f"answer {i}") for i in range(3)]  # fmt: skip
    verdicts = judge.grade_many(requests)
    # The random model's reply is text the parser cannot read: failed verdicts that keep the reply.
    assert all(v.failed and isinstance(v.reply, str) and "unparseable" in v.error for v in verdicts)
    assert tiny_server.counts["completions"] - before == 3
    assert judge.stats == {"requests": 3, "retries": 0, "cache_hits": 0, "request_failures": 0,
                           "parse_failures": 3, "failures": 3}  # fmt: skip
    assert judge.grade_many(requests) == [JudgeVerdict(**{**v.__dict__, "cached": True}) for v in verdicts]
    assert tiny_server.counts["completions"] - before == 3  # the second call sent nothing
    assert tiny_client(tiny_server, cache_path=str(path)).grade_many(requests)[2].reply == verdicts[2].reply
    assert tiny_server.counts["completions"] - before == 3  # nor did a new client on the same file


def test_tiny_server_concurrency(tiny_server):
    judge = tiny_client(tiny_server, max_concurrency=3, max_tokens=32)  # ~0.1 s per generation
    before = tiny_server.counts["requests"]
    tiny_server.counts["peak_in_flight"] = 0
    verdicts = judge.grade_many([request(f"describe frame {i}") for i in range(6)])
    assert len(verdicts) == 6 and not any(v.reply is None for v in verdicts)
    assert tiny_server.counts["requests"] - before == 6
    assert 2 <= tiny_server.counts["peak_in_flight"] <= 3  # requests queue at the generation lock


def test_wrong_model_name_is_a_4xx_failure(tiny_server):
    verdict = tiny_client(tiny_server, model="gpt-judge", max_retries=2).grade(request())
    assert verdict.failed and "HTTP 404" in verdict.error and "is not served here" in verdict.error


# ------------------------------------------------------------------------ batched judging (registry)


class CountingClient(JudgeClient):
    def __init__(self, config):
        super().__init__(config)
        self.batches = []

    def grade_many(self, requests):
        self.batches.append(len(requests))
        return super().grade_many(requests)


def test_score_batch_sends_all_judge_requests_in_one_call(scripted):
    server = scripted(reply("Score: 8"))
    judge = CountingClient(JudgeConfig(base_url=server.url, model="judge", max_tokens=8))
    square = {"response": "<answer>a red square</answer>", "ground_truth": "a red square moving"}
    items = [
        {**square, "problem_type": "open-ended"},
        {**square, "problem_type": "video qa"},
        {"response": "<answer>Response 2</answer>", "ground_truth": "Response 2", "problem_type": "llava",
         "question": "Which response is better?"},
        {"response": "<answer>yes</answer>", "ground_truth": "yes", "problem_type": "boolean"},
        {"response": "", "ground_truth": "a blue circle", "problem_type": "caption"},  # empty: never sent
    ]  # fmt: skip
    results = score_batch(items, judge=judge)
    assert judge.batches == [2]  # one call; the duplicate open-ended request and the empty answer not sent
    assert len(server.requests) == 2
    assert [r["accuracy"] for r in results] == [0.8, 0.8, 0.8, 1.0, 0.0]
    assert [r.get("judge_used") for r in results] == [1.0, 1.0, 1.0, None, 0.0]
    prompts = [r["body"]["messages"][0]["content"] for r in server.requests]  # sent concurrently: any order
    assert sum("Which response is better?" in p for p in prompts) == 1
    assert score_batch(items[3:4], judge=judge) == score_batch(items[3:4])  # no judge family: unaffected
    assert judge.batches == [2] and len(server.requests) == 2


def test_score_with_judge_reaches_only_judge_families(scripted):
    server = scripted(reply("Score: 3"))
    judge = client_for(server.url)
    assert score("<answer>yes</answer>", "yes", "boolean", judge=judge)["accuracy"] == 1.0
    assert server.requests == []
    assert (
        score("<answer>a cat on a mat</answer>", "the cat sat on the mat", "free-form", judge=judge)[
            "accuracy"
        ]
        == 0.3
    )
    assert len(server.requests) == 1


def test_score_batch_errors_name_the_item_before_any_request(scripted):
    server = scripted(reply("Score: 3"))
    judge = client_for(server.url)
    items = [
        {"response": "x", "ground_truth": "a red square moving", "problem_type": "open-ended"},
        {"response": "x", "ground_truth": "perhaps", "problem_type": "preference", "problem_id": "p-2"},
    ]
    with pytest.raises(ValueError) as info:
        score_batch(items, judge=judge)
    assert "in score_batch item 1 (problem_id='p-2')" in info.value.__notes__
    with pytest.raises(TypeError, match="quesiton"):
        score_batch([{**items[0], "quesiton": "typo"}], judge=judge)
    assert server.requests == []


def test_judge_request_needs_a_judge_keyword(monkeypatch):
    monkeypatch.setattr(registry, "_SCORERS", registry._SCORERS.copy())
    with pytest.raises(TypeError, match="takes no 'judge' keyword"):
        register_scorer("judged", judge_request=lambda response, ground_truth: None)(
            lambda response, ground_truth: 0.0
        )


def test_judged_scores_paths():
    ok = FixedJudge(JudgeVerdict(0.25, False, "Score: 2.5"))
    bad = FixedJudge(JudgeVerdict(None, True, None, "HTTP 500"))
    assert judged_scores(request(), ok) == {"accuracy": 0.25, "judge_used": 1.0, "judge_failed": 0.0}
    assert judged_scores(request(), bad) == {"accuracy": 0.0, "judge_used": 1.0, "judge_failed": 1.0}
    assert judged_scores(None, bad) == {"accuracy": 0.0, "judge_used": 0.0, "judge_failed": 0.0}
    assert ok.asked == [request()] and bad.asked == [request()]  # None was never sent
