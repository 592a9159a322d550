"""Judge-graded scoring: a batch's judge requests in flight together vs one at a time (issue 5, runner stage 3).

Usage: ``.venv/bin/python benchmarks/judge_scoring_bench.py [--n 32] [--latency-ms 200] [--out FILE]``.

A real OpenAI-compatible endpoint on 127.0.0.1 (``http.server``, one thread per request) holds every request for
``latency`` before it answers, as a remote judge model would; ``N`` MMVU open-ended records with distinct
responses are scored in official mode through ``evaluation.stages.score_many``, first with the judge client's
``max_concurrency`` 1 (the scoring stage before: one judge call after another), then 8 (the default). Both runs
use fresh clients (no cache hits) and must give the same scores. Results: printed and written as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_measure import loadavg

from evaluation.adapters import get_adapter
from evaluation.stages import score_many
from training.rewards.judge import JudgeClient, JudgeConfig


class _Judge(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(self.server.latency_s)
        response = body["messages"][-1]["content"].split("Model Response to the Question:")[-1]
        reply = '{"correct": %s}' % ("true" if "Dolly Zoom" in response else "false")
        data = json.dumps(
            {"choices": [{"index": 0, "message": {"role": "assistant", "content": reply}}]}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--latency-ms", type=float, default=200.0)
    ap.add_argument("--out", default=str(Path(__file__).parent / "eval" / "judge_scoring.json"))
    args = ap.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Judge)
    server.latency_s = args.latency_ms / 1000
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    question = "Which cinematic shooting technique is shown in the video?"
    seconds, scores = {}, {}
    for concurrency in (1, 8):
        judge = JudgeClient(
            JudgeConfig(base_url=url, model="judge", max_retries=0, max_concurrency=concurrency)
        )
        adapter = get_adapter("mmvu", judge=judge)
        records = [
            adapter.make_record(
                f"q{i}", problem=question, answer="Dolly Zoom", problem_type="open-ended", media=[]
            )
            for i in range(args.n)
        ]
        pairs = [(r, f"Answer {i}: " + ("Dolly Zoom." if i % 3 else "a pan.")) for i, r in enumerate(records)]
        t0 = time.perf_counter()
        out = score_many(adapter, pairs, ["official"])
        seconds[concurrency] = time.perf_counter() - t0
        scores[concurrency] = [s["official"]["score"] for s in out]
        print(
            f"max_concurrency {concurrency}: {seconds[concurrency]:.2f} s for {args.n} judged records",
            flush=True,
        )
    server.shutdown()
    if scores[1] != scores[8]:
        raise RuntimeError("the two runs scored differently")
    ratio = seconds[1] / seconds[8]
    print(f"concurrent scoring is {ratio:.2f}x one request at a time")
    doc = {
        "records": args.n,
        "latency_ms": args.latency_ms,
        "seconds": {str(k): round(v, 3) for k, v in seconds.items()},
        "speedup": round(ratio, 3),
        "mean_score": sum(scores[8]) / len(scores[8]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "loadavg": loadavg()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
