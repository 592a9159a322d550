"""``reelrl serve``: an OpenAI-compatible chat-completions server over the project's HF engine.

Endpoints: ``POST /v1/chat/completions``, ``GET /v1/models``, ``GET /health``. Text only: a request
is optional ``system`` messages then one ``user`` message, each content a string or a list of
``{"type": "text", "text": …}`` parts (system texts are joined by a blank line, parts by nothing).
Image/video parts, assistant turns (multi-turn history), streaming, ``stop``, tools, logprobs and
non-zero penalties are refused with a 400 naming the field, never silently ignored. Honoured:
``temperature`` (0 = greedy, default 1), ``top_p`` (default 1), ``max_tokens`` or
``max_completion_tokens`` (default 256, at most 32768), ``n`` (1..16), ``seed``; other unknown
fields are ignored. ``usage`` counts prompt tokens as encoded for the model and completion tokens
as generated (EOS included). A request error is a JSON ``{"error": {"message", "type", "code"}}``
body with status 400 (404 for an unknown path or ``model``, 405 for a wrong method, 411 without a
Content-Length, 413 for a body over 16 MiB); an engine failure is a 500 with the exception type
only (the traceback goes to the log), and the server keeps serving. Generation runs under one
lock: one request at a time on the engine.

Bound to 127.0.0.1 by default; there is no authentication (an ``Authorization`` header is accepted
and ignored), so bind elsewhere only on a trusted network.
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import threading
import time
import uuid
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

from training.engines.base import GenerationEngine, GenerationRequest, SamplingParams

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_TOKENS = 256
MAX_TOKENS_LIMIT = 32_768
MAX_N = 16
_REFUSED = ("stream", "stop", "tools", "tool_choice", "functions", "function_call", "logprobs",
            "top_logprobs", "logit_bias", "response_format")  # fmt: skip


class RequestError(ValueError):
    """A client error: answered with ``status`` and ``message``."""

    def __init__(self, message: str, status: int = 400, code: str = "invalid_request"):
        super().__init__(message)
        self.status, self.code = status, code


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise RequestError(f"{where}.content must be a string or a list of text parts")
    texts = []
    for i, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("image_url", "image", "input_image", "video_url", "video", "input_audio"):
            raise RequestError(f"{where}.content[{i}] has type {kind!r}: this server accepts text only",
                               code="unsupported_content")  # fmt: skip
        if kind != "text" or not isinstance(part.get("text"), str):
            raise RequestError(f"{where}.content[{i}] must be {{'type': 'text', 'text': <string>}}")
        texts.append(part["text"])
    return "".join(texts)


def parse_messages(messages: Any) -> tuple[str | None, str]:
    """``(system text or None, user text)`` from OpenAI ``messages``; RequestError if unsupported."""
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty list")
    system, user = [], []
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        where = f"messages[{i}]"
        if role not in ("system", "developer", "user"):
            raise RequestError(f"{where}.role {role!r} is not supported: send system messages, then one "
                               "user message (no assistant turns)")  # fmt: skip
        if role == "user" and user:
            raise RequestError(f"{where}: only one user message is supported (single-turn)")
        if role != "user" and user:
            raise RequestError(f"{where}: system messages must come before the user message")
        (user if role == "user" else system).append(_text(message.get("content"), where))
    if not user:
        raise RequestError("'messages' holds no user message")
    return ("\n\n".join(system) if system else None), user[0]


def _number(body: dict, name: str, default: float, kind: type = float) -> Any:
    value = body.get(name)
    if value is None:
        return default
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (kind is int and value != int(value)):
        raise RequestError(f"'{name}' must be {'an integer' if kind is int else 'a number'}, got {value!r}")
    return kind(value)


def parse_sampling(body: dict) -> SamplingParams:
    """SamplingParams from the request fields; RequestError for a refused or invalid field."""
    for name in _REFUSED:
        if body.get(name) not in (None, False, [], {}):
            raise RequestError(f"'{name}' is not supported by this server", code="unsupported_parameter")
    for name in ("presence_penalty", "frequency_penalty"):
        if _number(body, name, 0.0) != 0.0:
            raise RequestError(
                f"'{name}' is not supported by this server (only 0)", code="unsupported_parameter"
            )
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    max_tokens = _number({"max_tokens": limit}, "max_tokens", DEFAULT_MAX_TOKENS, int)
    if max_tokens > MAX_TOKENS_LIMIT:
        raise RequestError(f"'max_tokens' must be <= {MAX_TOKENS_LIMIT}, got {max_tokens}")
    n = _number(body, "n", 1, int)
    if not 1 <= n <= MAX_N:
        raise RequestError(f"'n' must be in 1..{MAX_N}, got {n}")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63):
        raise RequestError(f"'seed' must be an integer in [0, 2**63), got {seed!r}")
    try:
        return SamplingParams(
            n=n,
            temperature=_number(body, "temperature", 1.0),
            top_p=_number(body, "top_p", 1.0),
            max_new_tokens=max_tokens,
            seed=seed,
        )
    except ValueError as err:
        raise RequestError(str(err).replace("SamplingParams.max_new_tokens", "'max_tokens'")) from None


class ReelServer(ThreadingHTTPServer):
    """The HTTP server: holds the engine, its lock and request counters."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], engine: GenerationEngine, model_name: str):
        super().__init__(address, _Handler)
        self.engine, self.model_name = engine, model_name
        self.generate_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self.counts = {"requests": 0, "completions": 0, "errors": 0, "in_flight": 0, "peak_in_flight": 0}

    def count(self, key: str, delta: int = 1) -> None:
        with self._count_lock:
            self.counts[key] += delta
            self.counts["peak_in_flight"] = max(self.counts["peak_in_flight"], self.counts["in_flight"])

    def complete(self, body: dict) -> dict:
        """The chat.completion response for a parsed JSON body (RequestError for a client error)."""
        model = body.get("model")
        if model is not None and model != self.model_name:
            raise RequestError(f"model {model!r} is not served here; this server serves {self.model_name!r}",
                               status=404, code="model_not_found")  # fmt: skip
        system, prompt = parse_messages(body.get("messages"))
        params = parse_sampling(body)
        request = GenerationRequest(request_id=f"chatcmpl-{uuid.uuid4().hex}", prompt=prompt, system=system)
        with self.generate_lock:
            processor = getattr(self.engine, "processor", None)
            try:
                prompt_tokens = len(processor.encode(prompt, [], system).input_ids) if processor else 0
            except ValueError as err:  # e.g. a reserved vision token in the text
                raise RequestError(str(err)) from None
            if params.temperature == 0 and params.n > 1:  # greedy choices are identical: decode once
                completions = self.engine.generate([request], replace(params, n=1))[0] * params.n
            else:
                completions = self.engine.generate([request], params)[0]
        completion_tokens = sum(len(c.token_ids) for c in completions)
        return {
            "id": request.request_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model_name,
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": c.text},
                    "finish_reason": c.finish_reason,
                }
                for i, c in enumerate(completions)
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def _error_body(status: int, message: str, code: str) -> dict:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "code": code}}


class _Handler(BaseHTTPRequestHandler):
    server: ReelServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # request lines to the log, not stderr
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, payload: dict) -> None:
        data = orjson.dumps(payload)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client left; nothing to answer

    def _error(self, status: int, message: str, code: str) -> None:
        self._send(status, _error_body(status, message, code))

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/health":
            self._send(200, {"status": "ok", "model": self.server.model_name})
        elif path == "/v1/models":
            model = {"id": self.server.model_name, "object": "model", "created": 0, "owned_by": "reelrl"}
            self._send(200, {"object": "list", "data": [model]})
        elif path == "/v1/chat/completions":
            self._error(405, "use POST for /v1/chat/completions", "method_not_allowed")
        else:
            self._error(404, f"no route {path!r}", "not_found")

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0].rstrip("/") != "/v1/chat/completions":
            self.close_connection = True  # the body is left unread
            self._error(404, f"no route {self.path!r}", "not_found")
            return
        self.server.count("requests")
        self.server.count("in_flight")
        try:
            status, payload = 200, self.server.complete(self._read_json())
            self.server.count("completions")
        except RequestError as err:
            self.server.count("errors")
            status, payload = err.status, _error_body(err.status, str(err), err.code)
        except Exception as err:  # one bad request must not take the server down (logged)
            self.server.count("errors")
            log.exception("chat completion failed")
            message = f"internal error ({type(err).__name__}); see the server log"
            status, payload = 500, _error_body(500, message, "internal_error")
        finally:
            self.server.count("in_flight", -1)  # before answering: the client may send its next at once
        self._send(status, payload)

    def _read_json(self) -> dict:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            raise RequestError(
                "a Content-Length header is required", status=411, code="length_required"
            ) from None
        if length > MAX_BODY_BYTES or length < 0:
            self.close_connection = True
            raise RequestError(
                f"body of {length} bytes exceeds {MAX_BODY_BYTES}", status=413, code="too_large"
            )
        try:
            body = orjson.loads(self.rfile.read(length))
        except orjson.JSONDecodeError as err:
            raise RequestError(f"body is not valid JSON: {err}") from None
        if not isinstance(body, dict):
            raise RequestError("body must be a JSON object")
        return body


def make_server(
    engine: GenerationEngine, host: str = "127.0.0.1", port: int = 8000, model_name: str = "reelrl"
) -> ReelServer:
    """A server bound to ``(host, port)`` (port 0: any free port, see ``server_address``); call
    ``serve_forever()`` to run it and ``shutdown()`` + ``server_close()`` to stop it."""
    return ReelServer((host, port), engine, model_name)


def _serve(args: argparse.Namespace) -> int:
    from training.engines.hf import HFEngine

    engine = HFEngine.from_pretrained(args.model, device=args.device)
    name = args.served_model_name or Path(args.model).resolve().name
    server = make_server(engine, args.host, args.port, name)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving on %s without authentication", args.host)
    host, port = server.server_address[:2]
    # a parent that ignores SIGINT (a launcher, a test runner) passes that on to us; Ctrl-C must still stop
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print(f"serving {name!r} at http://{host}:{port}/v1 (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        engine.close()
    return 0


def add_serve_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``serve --model PATH [--host] [--port] [--served-model-name] [--device]`` to a CLI."""
    s = subparsers.add_parser(
        "serve", help="serve a checkpoint over an OpenAI-compatible chat API (text only)"
    )
    s.add_argument("--model", required=True, help="checkpoint directory (Hugging Face layout)")
    s.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--served-model-name", default=None, help="model id clients send (default: folder name)")
    s.add_argument("--device", default="cpu", help="torch device for the model (default: cpu)")
    s.set_defaults(func=_serve)
    return s
