"""Judge-graded records are scored concurrently (``evaluation.stages.score_many``), against a real local
OpenAI-compatible endpoint that holds every request for a moment and records how many were in flight at once."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from evaluation.adapters import get_adapter
from evaluation.offline import score_predictions
from evaluation.stages import score_many
from training.rewards.judge import JudgeClient, JudgeConfig

HOLD_S = 0.4


class _SlowJudge(BaseHTTPRequestHandler):
    """After ``HOLD_S``, MMVU's verdict: correct when the model response holds the reference answer."""

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server = self.server
        with server.lock:
            server.in_flight += 1
            server.peak = max(server.peak, server.in_flight)
        time.sleep(HOLD_S)
        with server.lock:
            server.in_flight -= 1
            server.requests += 1
        response = body["messages"][-1]["content"].split("Model Response to the Question:")[-1]
        verdict = '{"correct": %s}' % ("true" if "Dolly Zoom" in response else "false")
        data = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": verdict}}]})
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data.encode())


@pytest.fixture
def slow_judge():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowJudge)
    server.lock, server.in_flight, server.peak, server.requests = threading.Lock(), 0, 0, 0
    server.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _open_ended(adapter, n):
    return [
        adapter.make_record(
            f"q{i}", problem="Which cinematic shooting technique is shown in the video?", answer="Dolly Zoom",
            problem_type="open-ended", media=[],
        )
        for i in range(n)
    ]  # fmt: skip


def _adapter(url, concurrency):
    judge = JudgeClient(JudgeConfig(base_url=url, model="judge", max_retries=0, max_concurrency=concurrency))
    return get_adapter("mmvu", judge=judge)


def test_a_batch_of_judged_records_is_in_flight_together(slow_judge):
    adapter = _adapter(slow_judge.url, concurrency=4)
    records = _open_ended(adapter, 6)
    responses = [f"Shot {i}: " + ("Dolly Zoom." if i % 2 == 0 else "a pan.") for i in range(6)]  # 6 requests
    scores = score_many(adapter, list(zip(records, responses)), ["official"])
    assert [s["official"]["score"] for s in scores] == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]  # in record order
    assert slow_judge.requests == 6 and slow_judge.peak == 4  # the judge's max_concurrency, not one at a time


def test_offline_scoring_uses_the_same_concurrency_and_never_exceeds_it(slow_judge):
    adapter = _adapter(slow_judge.url, concurrency=2)
    records = _open_ended(adapter, 5)
    predictions = {r.id: f"{r.id}: Dolly Zoom" for r in records[:4]}  # the fifth has no prediction
    out = score_predictions(adapter, records, predictions, ["official"], partial=True)
    assert out["counts"]["scored"] == 4 and out["counts"]["missing"] == 1 and out["partial"] is True
    assert out["aggregates"]["official"]["overall"] == 100.0
    assert slow_judge.peak == 2


def test_without_a_judge_scoring_stays_in_order_on_the_calling_thread():
    adapter = get_adapter("mvbench")
    rec = adapter.make_record("a", problem="q", answer="A", options=["A. x", "B. y"], media=[])
    seen = []
    original = adapter.score_sample

    def watched(record, response, mode):
        seen.append(threading.current_thread().name)
        return original(record, response, mode)

    adapter.score_sample = watched
    scores = score_many(adapter, [(rec, "(A)"), (rec, "(B)")], ["robust"])
    assert [s["robust"]["score"] for s in scores] == [1.0, 0.0]
    assert seen == [threading.current_thread().name] * 2
