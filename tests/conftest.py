"""Shared fixtures: tiny offline Qwen-VL checkpoints (built once per session, no network)."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# the three newer families add ~1 s to the session (each builds in ~0.25 s)
FAMILIES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_5", "qwen3_5_moe", "qwen3_vl_moe")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, str]:
    from demo_kit.tiny_models import build_tiny_model

    root = tmp_path_factory.mktemp("tiny_models")
    return {fam: str(build_tiny_model(fam, root / fam, seed=0)) for fam in FAMILIES}


class _RatingJudge(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat endpoint that answers every request with the server's ``reply``."""

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.seen.append(body)
        data = json.dumps(
            {"choices": [{"index": 0, "message": {"role": "assistant", "content": self.server.reply}}]}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def rating_judge():
    """``make(reply)`` starts a real judge endpoint on 127.0.0.1 that always answers ``reply``; the server
    has ``.url`` (base URL for ``JudgeConfig``) and ``.seen`` (every request body, in order)."""
    servers = []

    def make(reply: str) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _RatingJudge)
        server.reply, server.seen = reply, []
        server.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def small_models(tmp_path_factory) -> dict[str, str]:
    """The "small" size of the tiny checkpoints (head_dim 64), the smallest vLLM's CPU attention runs."""
    from demo_kit.tiny_models import build_tiny_model

    root = tmp_path_factory.mktemp("small_models")
    return {fam: str(build_tiny_model(fam, root / fam, seed=0, size="small")) for fam in FAMILIES}


@pytest.fixture(scope="session")
def vllm_env():
    """Skip without vLLM, except under ``make test-vllm`` (REELRL_REQUIRE_VLLM=1), where that is a failure."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        if os.environ.get("REELRL_REQUIRE_VLLM") == "1":
            pytest.fail("vLLM is not importable here; run `make setup-vllm` and use .venv-vllm")
        pytest.skip("needs vLLM: make setup-vllm, then make test-vllm")
    # vLLM logs to stdout unless told otherwise (read when vllm is first imported); the CLI tests read stdout
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")


@pytest.fixture(scope="session")
def torchvision_env():
    """Skip without a working torchvision (transformers' official Qwen video processors need it), except
    under ``make test-vllm``, whose environment has it (then its absence is a failure)."""
    try:
        import torchvision  # noqa: F401
    except (ImportError, RuntimeError) as err:  # PyPI torchvision beside CPU torch: a RuntimeError
        if os.environ.get("REELRL_REQUIRE_VLLM") == "1":
            pytest.fail(f"torchvision does not import in the vLLM environment: {err}")
        pytest.skip(f"needs a working torchvision (make test-vllm has one): {type(err).__name__}")
