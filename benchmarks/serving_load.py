"""Load test of ``scanner-ner serve`` on loopback: K concurrent clients send M requests (one tweet each, a
known share of them bad), against ``scanner-ner predict --input`` on the same texts, and, for the choice of
engine, the same request checks and batch answers (scanner_hf.serving) on Ray Serve's ``@serve.batch``.

    python benchmarks/serving_load.py --model benchmarks/cache/default-twitter2017-seed-42/scanner \\
        [--engines litserve ray] [--clients 8] [--requests 400] [--bad-share 0.1] [--workers 1 2]

Checks: the errors are exactly the bad requests (4xx, never 5xx); every good answer has the offline
pipeline's entities for its text (types and offsets exact, scores within 1e-4: batches pad differently).
Ray Serve needs ``pip install "ray[serve]"`` (not in the lock: it is measured, not used).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import BENCHMARK_DIR, installed_version, write_section

from scanner_hf.data.benchmarks import load_benchmark

RAW_FILE = BENCHMARK_DIR / "results" / "serving_load.json"
BAD_BODIES = [
    {"text": "x" * 6000},  # over --max-text-chars (5000)
    {"text": "a", "texts": ["b"]},
    {"text": "paris", "image": base64.b64encode(b"not an image").decode()},
    {"text": "paris", "unknown_option": True},
    "{not json",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request_bodies(texts: list[str], count: int, bad_share: float) -> list:
    """``count`` bodies: tweets in order, every ``1 / bad_share``-th one a bad request."""
    every = round(1 / bad_share) if bad_share else 0
    bodies, text_index = [], 0
    for index in range(count):
        if every and index % every == every - 1:
            bodies.append(BAD_BODIES[(index // every) % len(BAD_BODIES)])
        else:
            bodies.append({"text": texts[text_index % len(texts)]})
            text_index += 1
    return bodies


async def load(url: str, bodies: list, clients: int) -> tuple[list, float]:
    """(status, answer, seconds) per body, in body order, and the wall time of all of them."""
    results: list = [None] * len(bodies)
    queue: asyncio.Queue = asyncio.Queue()
    for index in range(len(bodies)):
        queue.put_nowait(index)

    async def client(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            index = queue.get_nowait()
            body = bodies[index]
            start = time.perf_counter()
            if isinstance(body, str):
                response = await http.post(url, content=body, headers={"content-type": "application/json"})
            else:
                response = await http.post(url, json=body)
            results[index] = (response.status_code, response.json(), time.perf_counter() - start)

    start = time.perf_counter()
    async with httpx.AsyncClient(timeout=300) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return results, time.perf_counter() - start


def wait_until_up(url: str, process: subprocess.Popen, seconds: float = 600) -> float:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.monotonic() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the server did not come up in {seconds} s")


def start_litserve(model: str, port: int, workers: int, max_batch_size: int, batch_timeout_ms: float) -> subprocess.Popen:
    command = [sys.executable, "-m", "scanner_hf.cli", "serve", "--model", model, "--port", str(port), "--workers", str(workers),
               "--max-batch-size", str(max_batch_size), "--batch-timeout-ms", str(batch_timeout_ms)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


RAY_APP = '''
import sys
import time
from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse
from scanner_hf.serving import ServingLimits, RequestError, answer_batch, load_pipeline, parse_request, threads_per_worker

MODEL, PORT, WORKERS, BATCH, WAIT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])


@serve.deployment(num_replicas=WORKERS, ray_actor_options={"num_cpus": 2 / WORKERS})
class Scanner:
    def __init__(self):
        self.ner = load_pipeline(MODEL, threads=threads_per_worker(WORKERS))

    @serve.batch(max_batch_size=BATCH, batch_wait_timeout_s=WAIT)
    async def answer(self, parsed):
        return answer_batch(self.ner, parsed)

    async def __call__(self, request: Request):
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"detail": "not JSON"}, status_code=422)
        parsed = parse_request(body, ServingLimits())
        answer = parsed if isinstance(parsed, RequestError) else await self.answer(parsed)
        if isinstance(answer, RequestError):
            return JSONResponse({"detail": answer.detail}, status_code=answer.status)
        return answer


serve.start(http_options={"host": "127.0.0.1", "port": PORT})
serve.run(Scanner.bind(), route_prefix="/predict")
while True:
    time.sleep(60)
'''


def start_ray(model: str, port: int, workers: int, max_batch_size: int, batch_timeout_ms: float) -> subprocess.Popen:
    script = Path(tempfile.mkdtemp()) / "ray_app.py"
    script.write_text(RAY_APP)
    command = [sys.executable, str(script), model, str(port), str(workers), str(max_batch_size), str(batch_timeout_ms / 1000)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def same_entities(answer: list[dict], offline: list[dict]) -> bool:
    if len(answer) != len(offline):
        return False
    return all(
        {k: v for k, v in a.items() if k != "score"} == {k: v for k, v in b.items() if k != "score"} and abs(a["score"] - b["score"]) < 1e-4
        for a, b in zip(answer, offline)
    )


def offline_pipeline(model: str, texts: list[str]) -> tuple[dict[str, list], float]:
    """The pipeline's entities for each distinct text, in this process on all cores, and its time."""
    from transformers import pipeline

    import scanner_hf  # noqa: F401

    ner = pipeline("scanner-ner", model=model)
    distinct = list(dict.fromkeys(texts))
    start = time.perf_counter()
    found = ner(distinct, batch_size=32)
    return dict(zip(distinct, found)), time.perf_counter() - start


def cli_predict(model: str, texts: list[str], processes: int = 1) -> float:
    """Wall time of ``scanner-ner predict --input`` on ``texts`` (model loading included)."""
    folder = Path(tempfile.mkdtemp())
    (folder / "in.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    command = [str(Path(sys.executable).parent / "scanner-ner"), "predict", "--input", str(folder / "in.jsonl"), "--model", model,
               "--output", str(folder / "out.jsonl"), "--batch-size", "32"]
    if processes > 1:
        command = [str(Path(sys.executable).parent / "accelerate"), "launch", "--cpu", "--num_processes", str(processes),
                   "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", *command]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def measure(engine: str, args, bodies: list, offline: dict, workers: int) -> dict:
    port = free_port()
    starter = start_litserve if engine == "litserve" else start_ray
    process = starter(args.model, port, workers, args.max_batch_size, args.batch_timeout_ms)
    url = f"http://127.0.0.1:{port}"
    try:
        startup = wait_until_up(f"{url}/health" if engine == "litserve" else f"http://127.0.0.1:{port}/-/healthz", process)
        if engine == "ray":  # the route answers once the replicas are up
            while httpx.post(f"{url}/predict", json={"text": "warm up"}, timeout=300).status_code != 200:
                time.sleep(1)
        asyncio.run(load(f"{url}/predict", bodies[: args.clients * 2], args.clients))  # warm-up
        results, seconds = asyncio.run(load(f"{url}/predict", bodies, args.clients))
    finally:
        os.killpg(process.pid, signal.SIGTERM) if engine == "ray" else process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
    bad = {index for index, body in enumerate(bodies) if not isinstance(body, dict) or body in BAD_BODIES}
    errors = {index for index, (status, _, _) in enumerate(results) if status != 200}
    wrong = [index for index, (status, answer, _) in enumerate(results)
             if status == 200 and not same_entities(answer["entities"], offline[bodies[index]["text"]])]
    latencies = sorted(seconds_taken for status, _, seconds_taken in results if status == 200)

    def quantile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    good = len(bodies) - len(bad)
    return {
        "engine": engine, "workers": workers, "startup_s": startup, "seconds": seconds, "texts_per_s": good / seconds,
        "p50_ms": quantile(0.5), "p95_ms": quantile(0.95), "p99_ms": quantile(0.99), "mean_ms": statistics.mean(latencies) * 1000,
        "errors": len(errors), "bad": len(bad), "errors_are_the_bad_requests": errors == bad,
        "server_errors": sum(1 for status, _, _ in results if status >= 500), "answers_unlike_offline": len(wrong),
        "answers": sum(1 for r in results if r is not None),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--engines", nargs="+", default=["litserve", "ray"], choices=["litserve", "ray"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--bad-share", type=float, default=0.1)
    parser.add_argument("--max-batch-size", type=int, default=8)
    parser.add_argument("--batch-timeout-ms", type=float, default=10.0)
    args = parser.parse_args()
    texts = [" ".join(tokens) for tokens in load_benchmark("twitter2017")["test"]["tokens"]]
    bodies = request_bodies(texts, args.requests, args.bad_share)
    used = [body["text"] for body in bodies if isinstance(body, dict) and body not in BAD_BODIES]
    offline, offline_seconds = offline_pipeline(args.model, used)
    rows = [{"engine": "in-process pipeline (one call, batch 32)", "texts_per_s": len(set(used)) / offline_seconds}]
    for processes in (1, 2):  # the startup (loading, KB, process group) measured on 2 texts per process, then subtracted
        startup = cli_predict(args.model, used[: 2 * processes], processes)
        seconds = cli_predict(args.model, used, processes)
        name = f"scanner-ner predict --input, {processes} process{'es' if processes > 1 else ''}"
        rows.append({"engine": f"{name} (loading included: {seconds:.1f} s)", "texts_per_s": len(used) / seconds, "seconds": seconds})
        rows.append({"engine": f"{name} (without its {startup:.1f} s start)", "texts_per_s": len(used) / max(1e-9, seconds - startup),
                     "startup_s": startup})
    for engine in args.engines:
        for workers in args.workers:
            rows.append(measure(engine, args, bodies, offline, workers))
            print(rows[-1], flush=True)
    write(args, rows, len(bodies), len(used))


def write(args, rows: list[dict], count: int, good: int) -> None:
    lines = [
        f"{args.clients} concurrent clients on loopback send {count} requests, one Twitter-2017 test tweet each ({good} good, "
        f"every {round(1 / args.bad_share)}th one bad: an over-long text, text with texts, a non-image, an unknown option, broken JSON), "
        f"after a warm-up of {args.clients * 2}; model `{args.model}`; --max-batch-size {args.max_batch_size}, "
        f"--batch-timeout-ms {args.batch_timeout_ms}; litserve {installed_version('litserve')}, ray {installed_version('ray')}. "
        "texts/s counts good requests; latencies are of good requests. `same as offline`: answers whose entities differ from "
        "the offline pipeline's for their text (types and offsets exact, scores within 1e-4).",
        "",
        "| engine | workers | texts/s | p50 ms | p95 ms | p99 ms | errors (bad) | errors = bad | 5xx | unlike offline | start s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if "p50_ms" in row:
            lines.append(
                f"| {row['engine']} | {row['workers']} | {row['texts_per_s']:.1f} | {row['p50_ms']:.0f} | {row['p95_ms']:.0f} | "
                f"{row['p99_ms']:.0f} | {row['errors']} ({row['bad']}) | {'yes' if row['errors_are_the_bad_requests'] else 'NO'} | "
                f"{row['server_errors']} | {row['answers_unlike_offline']} | {row['startup_s']:.0f} |"
            )
        else:
            lines.append(f"| {row['engine']} | - | {row['texts_per_s']:.1f} | - | - | - | - | - | - | - | - |")
    write_section("serving_load", "Serving under load", "\n".join(lines), {"rows": rows})


if __name__ == "__main__":
    main()
