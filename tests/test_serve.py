"""``reelrl serve``: the OpenAI-compatible server over the tiny Qwen-VL checkpoint, on a real socket."""

import argparse
import http.client
import os
import re
import signal
import subprocess
import sys
import threading

import orjson
import pytest

from reelrl.serve import add_serve_parser, make_server
from training.engines.base import GenerationRequest, SamplingParams
from training.engines.hf import HFEngine


@pytest.fixture(scope="module")
def engine(tiny_models):
    return HFEngine.from_pretrained(tiny_models["qwen2_5_vl"])


def start(engine, name="tiny"):
    server = make_server(engine, "127.0.0.1", 0, name)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    return server


@pytest.fixture(scope="module")
def server(engine):
    server = start(engine)
    yield server
    server.shutdown()
    server.server_close()


def call(server, method, path, body=None, raw=None, headers=None):
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    data = raw if raw is not None else (None if body is None else orjson.dumps(body))
    conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
    response = conn.getresponse()
    payload = orjson.loads(response.read())
    conn.close()
    return response.status, payload


def chat(server, **body):
    return call(server, "POST", "/v1/chat/completions", {"model": "tiny", **body})


def user(text):
    return [{"role": "user", "content": text}]


def test_health_and_models(server):
    assert call(server, "GET", "/health") == (200, {"status": "ok", "model": "tiny"})
    status, models = call(server, "GET", "/v1/models")
    assert status == 200 and [m["id"] for m in models["data"]] == ["tiny"]
    assert models["object"] == "list" and models["data"][0]["object"] == "model"


def test_chat_completion_shape_and_usage(server, engine):
    messages = [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [{"type": "text", "text": "How many "}, {"type": "text", "text": "squares?"}],
        },
    ]
    status, out = chat(server, messages=messages, max_tokens=5, n=2, temperature=1.0, seed=3)
    assert status == 200
    assert out["object"] == "chat.completion" and out["model"] == "tiny" and out["id"].startswith("chatcmpl-")
    assert [c["index"] for c in out["choices"]] == [0, 1]
    assert all(c["message"]["role"] == "assistant" and isinstance(c["message"]["content"], str)
               for c in out["choices"])  # fmt: skip
    assert all(c["finish_reason"] in ("stop", "length") for c in out["choices"])
    # The prompt as the model sees it: system + the user parts joined, through the chat template.
    expected_prompt = len(engine.processor.encode("How many squares?", [], "Be brief.").input_ids)
    usage = out["usage"]
    assert usage["prompt_tokens"] == expected_prompt
    assert 2 <= usage["completion_tokens"] <= 10  # 1..5 tokens per choice (EOS may stop one early)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_max_tokens_counts_exactly(server):
    # Greedy, one token each: n=3 identical one-token choices.
    status, out = chat(server, messages=user("hi"), max_tokens=1, n=3, temperature=0)
    assert status == 200
    assert out["usage"]["completion_tokens"] == 3
    assert len({c["message"]["content"] for c in out["choices"]}) == 1


def test_seed_and_greedy_are_reproducible(server, engine):
    sampled = [
        chat(server, messages=user("a cat"), max_tokens=12, temperature=1.0, seed=7)[1] for _ in range(2)
    ]
    assert sampled[0]["choices"][0]["message"] == sampled[1]["choices"][0]["message"]
    # The server returns what the engine generates for the same request and settings.
    params = SamplingParams(temperature=1.0, max_new_tokens=12, seed=7)
    direct = engine.generate([GenerationRequest("x", "a cat")], params)[0][0]
    assert sampled[0]["choices"][0]["message"]["content"] == direct.text
    greedy = {chat(server, messages=user("a cat"), max_tokens=8, temperature=0, seed=s)[1]["choices"][0]
              ["message"]["content"] for s in (1, 2)}  # fmt: skip
    assert len(greedy) == 1


@pytest.mark.parametrize(
    "body, status, fragment",
    [
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
         400, "has type 'image_url': this server accepts text only"),
        ({"messages": [{"role": "user", "content": [{"type": "video", "video": "a.mp4"}]}]}, 400, "'video'"),
        ({"messages": []}, 400, "non-empty list"),
        ({}, 400, "non-empty list"),
        ({"messages": [{"role": "assistant", "content": "x"}]}, 400, "'assistant' is not supported"),
        ({"messages": user("a") + user("b")}, 400, "only one user message"),
        ({"messages": [{"role": "system", "content": "s"}]}, 400, "no user message"),
        ({"messages": [{"role": "user", "content": 3}]}, 400, "string or a list"),
        ({"messages": user("x"), "temperature": -1}, 400, "temperature must be >= 0"),
        ({"messages": user("x"), "temperature": "hot"}, 400, "'temperature' must be a number"),
        ({"messages": user("x"), "top_p": 0}, 400, "top_p must be in (0, 1]"),
        ({"messages": user("x"), "max_tokens": 0}, 400, "'max_tokens' must be >= 1"),
        ({"messages": user("x"), "max_tokens": 2.5}, 400, "'max_tokens' must be an integer"),
        ({"messages": user("x"), "max_completion_tokens": 10**6}, 400, "'max_tokens' must be <= 32768"),
        ({"messages": user("x"), "temperature": 1e308, "top_p": True}, 400, "'top_p' must be a number"),
        ({"messages": user("x"), "n": 0}, 400, "'n' must be in 1..16"),
        ({"messages": user("x"), "seed": "s"}, 400, "'seed' must be an integer"),
        ({"messages": user("x"), "seed": 2**64 - 1}, 400, "'seed' must be an integer in [0, 2**63)"),
        ({"messages": user("x"), "seed": -5}, 400, "'seed' must be an integer in [0, 2**63)"),
        ({"messages": user("x"), "max_tokens": 1e20}, 400, "'max_tokens' must be <= 32768"),
        ({"messages": user("x"), "stream": True}, 400, "'stream' is not supported"),
        ({"messages": user("x"), "stop": ["\n"]}, 400, "'stop' is not supported"),
        ({"messages": user("x"), "presence_penalty": 1.5}, 400, "presence_penalty"),
        ({"messages": user("x <|video_pad|>")}, 400, "reserved token"),
        ({"messages": user("x"), "model": "gpt-4"}, 404, "'gpt-4' is not served here"),
    ],
)  # fmt: skip
def test_request_errors_are_json(server, body, status, fragment):
    got_status, out = call(server, "POST", "/v1/chat/completions", body)
    assert got_status == status
    assert fragment in out["error"]["message"], out
    assert out["error"]["type"] == "invalid_request_error"


def test_transport_errors(server):
    status, out = call(server, "POST", "/v1/chat/completions", raw=b"{not json")
    assert status == 400 and "not valid JSON" in out["error"]["message"]
    assert call(server, "POST", "/v1/chat/completions", raw=b"[1, 2]")[0] == 400
    assert call(server, "GET", "/v1/chat/completions")[0] == 405
    assert call(server, "GET", "/nope")[0] == 404
    assert call(server, "POST", "/v1/completions", {"prompt": "x"})[0] == 404
    status, out = call(server, "POST", "/v1/chat/completions", raw=b"{}",
                       headers={"Content-Length": str(64 * 1024 * 1024)})  # fmt: skip
    assert status == 413


class BrokenEngine:
    """A real engine whose generate fails: the server must answer 500 and keep serving."""

    def __init__(self, engine):
        self.processor = engine.processor

    def generate(self, requests, params):
        raise RuntimeError("CUDA fell over")

    def close(self):
        pass


def test_engine_failure_is_500_and_server_survives(engine, caplog):
    server = start(BrokenEngine(engine), name="broken")
    try:
        status, out = call(server, "POST", "/v1/chat/completions", {"messages": user("x")})
        assert status == 500
        assert out["error"] == {
            "message": "internal error (RuntimeError); see the server log",
            "type": "server_error",
            "code": "internal_error",
        }
        assert "CUDA fell over" in caplog.text  # the traceback goes to the log, not to the client
        assert call(server, "GET", "/health")[0] == 200
        assert server.counts["errors"] == 1 and server.counts["completions"] == 0
    finally:
        server.shutdown()
        server.server_close()


def test_binds_loopback_by_default(engine):
    server = make_server(engine, port=0)
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.server_close()


def test_serve_parser():
    parser = argparse.ArgumentParser(prog="reelrl")
    add_serve_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["serve", "--model", "ckpt/tiny"])
    assert (args.model, args.host, args.port, args.served_model_name, args.device) == (
        "ckpt/tiny", "127.0.0.1", 8000, None, "cpu")  # fmt: skip
    args = parser.parse_args(["serve", "--model", "m", "--port", "9001", "--served-model-name", "judge"])
    assert (args.port, args.served_model_name, callable(args.func)) == (9001, "judge", True)
    with pytest.raises(SystemExit):
        parser.parse_args(["serve"])  # --model is required


def test_serve_command_end_to_end(tiny_models):
    """The ``serve`` entry point in its own process: loads the checkpoint, prints the URL, stops on Ctrl-C."""
    # SIGINT ignored first, as when a launcher that ignores it starts the server: Ctrl-C must still stop it
    script = (
        "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); "
        "import argparse, sys; from reelrl.serve import add_serve_parser; p = argparse.ArgumentParser(); "
        "add_serve_parser(p.add_subparsers()); a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))"
    )
    cmd = [sys.executable, "-c", script, "serve", "--model", tiny_models["qwen2_vl"], "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        match = re.match(r"serving '(.+)' at http://127\.0\.0\.1:(\d+)/v1", line)
        assert match, line
        name, port = match.group(1), int(match.group(2))
        assert name == os.path.basename(tiny_models["qwen2_vl"])  # default served name: the folder name
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/v1/models")
        assert orjson.loads(conn.getresponse().read())["data"][0]["id"] == name
        conn.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
