"""``scanner-ner serve``: request checks and batch answers in-process, then the real server (LitServe, in
a subprocess) under concurrent clients, with a known share of bad requests, and a graceful SIGTERM."""

import asyncio
import base64
import io
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from conftest import free_port
from PIL import Image
from transformers import pipeline

import scanner_hf  # noqa: F401  registers the pipeline
from scanner_hf.serving import ParsedRequest, RequestError, ServingLimits, answer_batch, parse_request, threads_per_worker

LIMITS = ServingLimits(max_text_chars=200, max_texts=4, max_image_bytes=50_000, max_image_pixels=100 * 100)


def png(width=40, height=30) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


BAD_REQUESTS = [  # (body, status): each gets its own 4xx answer
    ({"texts": []}, 422),
    ({"text": "x" * 201}, 413),
    ({"texts": ["a", "b", "c", "d", "e"]}, 413),
    ({"text": "paris", "image": "not base64!"}, 422),
    ({"text": "paris", "image": base64.b64encode(b"hello, not an image").decode()}, 415),
    ({"text": "paris", "image": png(200, 200)}, 413),
    ({"text": "a", "texts": ["b"]}, 422),
    ({"texts": ["a"], "caption": "a man"}, 422),
    ({"text": "paris", "unknown_option": 1}, 422),
    ({"text": 5}, 422),
    ({"text": "paris", "box_threshold": 2}, 422),
    ({"text": "  "}, 422),  # what the pipeline itself refuses is a 4xx too, never a 500
    ({"texts": ["paris", ""]}, 422),
    ({"text": "paris", "knowledge": {"facts": "a city"}}, 422),
]


@pytest.mark.parametrize(("body", "status"), BAD_REQUESTS)
def test_bad_requests_get_their_4xx(body, status):
    parsed = parse_request(body, LIMITS)
    assert isinstance(parsed, RequestError) and parsed.status == status and parsed.detail


def test_good_requests_and_a_batch_answer_as_the_pipeline(saved):
    parsed = parse_request({"text": "steve kerr in paris", "image": png(), "caption": "a man"}, LIMITS)
    assert isinstance(parsed, ParsedRequest) and parsed.single and parsed.inputs[0]["image"].size == (40, 30)
    ner = pipeline("scanner-ner", model=str(saved))
    batch = [parse_request(body, LIMITS) for body in (
        {"text": "steve kerr in paris"}, {"texts": ["x" * 500]}, {"texts": ["in paris", "nothing"]},
        {"text": "kerr", "return_knowledge": True},
    )]
    answers = answer_batch(ner, batch)
    assert answers[0] == {"entities": ner("steve kerr in paris")} and answers[0]["entities"]
    assert isinstance(answers[1], RequestError) and answers[1].status == 413  # one bad request keeps its own answer
    assert answers[2] == {"entities": ner(["in paris", "nothing"])}
    assert answers[3] == {"entities": ner("kerr", return_knowledge=True)} and "knowledge" in answers[3]["entities"][0]


def test_each_worker_gets_its_share_of_the_cores():
    assert threads_per_worker(1, cores=8) == 8 and threads_per_worker(2, cores=8) == 4 and threads_per_worker(4, cores=2) == 1


@pytest.fixture()
def server(saved, tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "scanner_hf.cli", "serve", "--model", str(saved), "--port", str(port),
               "--max-text-chars", "200", "--max-texts", "4", "--max-image-bytes", "50000", "--max-image-pixels", "10000",
               "--max-batch-size", "4", "--batch-timeout-ms", "20"]
    log = open(tmp_path / "server.log", "w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).text == "ok":
                break
        except httpx.HTTPError:
            pass
        assert process.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
        time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("the server did not come up in 180 s")
    yield url, process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)
    log.close()


async def send_all(url: str, bodies: list, clients: int) -> list:
    """``clients`` concurrent clients share ``bodies``; (status, json) per body, in body order."""
    results: list = [None] * len(bodies)
    queue: asyncio.Queue = asyncio.Queue()
    for index in range(len(bodies)):
        queue.put_nowait(index)

    async def client(http):
        while not queue.empty():
            index = queue.get_nowait()
            body = bodies[index]
            response = await (http.post(f"{url}/predict", content=body, headers={"content-type": "application/json"})
                              if isinstance(body, str) else http.post(f"{url}/predict", json=body))
            results[index] = (response.status_code, response.json())

    async with httpx.AsyncClient(timeout=120) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return results


def test_the_service_under_concurrent_clients_and_a_graceful_stop(server, saved):
    url, process = server
    schema = httpx.get(f"{url}/openapi.json").json()
    assert "/predict" in schema["paths"] and "PredictRequest" in json.dumps(schema)
    ner = pipeline("scanner-ner", model=str(saved))
    texts = ["steve kerr in paris", "nothing here", "kerr visits paris today", "paris paris", "the game at paris"]
    good = [{"text": text} for text in texts] * 4 + [{"texts": texts[:3]}, {"text": "paris", "image": png()}]
    bad = [body for body, _ in BAD_REQUESTS] + ["{not json"]
    bodies = [item for pair in zip(good, bad) for item in pair] + good[len(bad):]  # interleaved: bad ones share batches
    results = asyncio.run(send_all(url, bodies, clients=6))
    expected_bad = {index for index, body in enumerate(bodies) if body in bad}
    assert {index for index, (status, _) in enumerate(results) if status != 200} == expected_bad  # errors = the bad requests
    assert all(400 <= results[index][0] < 500 for index in expected_bad)  # never a 500
    for body, (status, answer) in zip(bodies, results):
        if status == 200:  # no answer lost, duplicated or swapped: each equals the offline pipeline's for its text
            offline = ner(body["texts"]) if "texts" in body else ner(body["text"])
            assert answer == {"entities": offline}
    # SIGTERM while requests are in flight: they are answered, then the server stops
    long_texts = {"texts": [" ".join(["steve kerr visits paris"] * 8)] * 4}

    async def in_flight():
        async with httpx.AsyncClient(timeout=120) as http:
            async def post():
                response = await http.post(f"{url}/predict", json=long_texts)
                return response.status_code, time.monotonic()

            sent = [asyncio.create_task(post()) for _ in range(24)]
            await asyncio.sleep(0.3)
            signalled = time.monotonic()
            process.send_signal(signal.SIGTERM)
            return signalled, await asyncio.gather(*sent)

    signalled, answered = asyncio.run(in_flight())
    assert [status for status, _ in answered] == [200] * 24
    assert max(when for _, when in answered) > signalled  # some were still in flight when the signal came
    assert process.wait(timeout=60) is not None


def test_a_prediction_slower_than_the_timeout_gets_504():
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from scanner_hf.serving import RequestTimeout

    async def slow(request):
        await asyncio.sleep(float(request.query_params["seconds"]))
        return JSONResponse({"entities": []})

    app = Starlette(routes=[Route("/predict", slow, methods=["POST"]), Route("/health", slow)])
    app.add_middleware(RequestTimeout, timeout=0.3)
    client = TestClient(app)
    assert client.post("/predict?seconds=0.01").json() == {"entities": []}
    late = client.post("/predict?seconds=2")
    assert late.status_code == 504 and "--timeout" in late.json()["detail"]
    assert client.get("/health?seconds=0.5").status_code == 200  # only predictions are bounded


def test_one_request_the_pipeline_refuses_does_not_fail_its_batch():
    def ner(inputs, **options):
        if any(value["text"] == "bad" for value in inputs):
            raise ValueError("refused")
        return [[{"word": value["text"]}] for value in inputs]

    batch = [ParsedRequest([{"text": "good"}], True), ParsedRequest([{"text": "bad"}], True), ParsedRequest([{"text": "also"}], True)]
    answers = answer_batch(ner, batch)
    assert answers[0] == {"entities": [{"word": "good"}]} and answers[2] == {"entities": [{"word": "also"}]}
    assert isinstance(answers[1], RequestError) and answers[1].status == 422 and answers[1].detail == "refused"
