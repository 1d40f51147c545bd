"""Cross-dataset generalisation: each Twitter model on the other Twitter set's test split.

SCANNER = scanner_mner.py's cached stage 1 + text-only stage 2 of the training dataset (seed 42);
SCANNER bar = unseen_bar.py's ``over`` configuration of the training dataset (word-shape stage 1,
stage 2 trained on over-proposals, BLIP-2 captions + the merged KB, its dev-chosen proposal setting),
scored on the gold words with the *test* dataset's captions (a user captions their own images);
baseline = the typed-BIO token classifier on the same backbone and budget (baseline_tokcls.py's,
trained once per dataset and cached as ``cache/<dataset>/tokcls``). Both run through their pipelines
on the test texts (entities mapped from character offsets to the gold words, as in pipeline_speed.py);
the baseline is also scored on the gold words themselves (each word's first sub-word, as
baseline_tokcls.py scores it), because the token-classification pipeline splits tweet words at
punctuation (``@user`` -> ``@`` + ``user``) and labels sub-words the model never learned to label;
seen / unseen = the entity string occurs as an entity in the *training* dataset's train split. Both
sets use PER / LOC / ORG / OTHER (Twitter-2015's MISC read as OTHER). ``default`` is the
``*-cpu`` preset's checkpoint of default_system.py (seed 42), run through ``model.predict`` on the gold
words with the target's captions and the merged KB. ``default-knowledge`` (the preset + stage-1 knowledge)
was removed with its settings; its recorded rows stay, marked *removed*.

    python benchmarks/cross_dataset.py [--systems scanner-bar] [--sources twitter2017]   (other recorded rows are kept)
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable

import torch
from common import BENCHMARK_DIR, commands_note, merged_commands, percent, write_section
from pipeline_speed import build_runner, char_entities_to_tags, tokcls_folder

from scanner_hf import ScannerProcessor
from scanner_hf.data import entity_strings, load_benchmark
from scanner_hf.evaluation.metrics import entity_scores
from scanner_hf.tokenization import first_subword_positions

DATASETS = ("twitter2017", "twitter2015")
SYSTEMS = {
    "token classification baseline": "tokcls-fp32",
    "token classification baseline, on the gold words": "tokcls-words",
    "SCANNER (text-only stage 2)": "scanner-fp32",
    "SCANNER bar (word-shape stage 1, over-proposal, caption + merged KB), on the gold words": "scanner-bar",
    "the default system (`*-cpu` preset), on the gold words": "default",
    "the default system + stage-1 knowledge (KB features, KB candidates), on the gold words": "default-knowledge",
}
REMOVED_SYSTEMS = {"default-knowledge"}  # recorded rows only: scanner-hf no longer has the settings
RUNNABLE_SYSTEMS = sorted(row for row in SYSTEMS.values() if row not in REMOVED_SYSTEMS)
RAW_FILE = BENCHMARK_DIR / "results" / "cross_dataset.json"


def tagger_on_words(folder: str, batch_size: int = 64) -> Callable[[list[list[str]]], list[list[str]]]:
    """The cached token classifier labelling given words by their first sub-word (the training view)."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    model, tokenizer = AutoModelForTokenClassification.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)

    @torch.no_grad()
    def tag(sentences: list[list[str]]) -> list[list[str]]:
        tags = []
        for offset in range(0, len(sentences), batch_size):
            batch = sentences[offset : offset + batch_size]
            encoded = tokenizer(batch, is_split_into_words=True, padding=True, return_tensors="pt")  # tweets: no window needed
            predicted = model(**encoded).logits.argmax(-1).tolist()
            for row, words in enumerate(batch):
                labels = ["O"] * len(words)
                for position, word in first_subword_positions(encoded.word_ids(row)):
                    labels[word] = model.config.id2label[predicted[row][position]]
                tags.append(labels)
        return tags

    return tag


def bar_scorer(source: str) -> Callable[..., dict]:
    """Scores of ``source``'s unseen_bar ``over`` model on a test split, with the target's knowledge."""
    from scanner_mner import RESULTS_FILE as SCANNER_RESULTS
    from unseen_bar import RAW_FILE as BAR_FILE
    from unseen_bar import shapes_trainer

    from scanner_hf import ScannerEntityRecognizer
    from scanner_hf.evaluation.two_stage import evaluate_two_stage

    settings = json.loads(SCANNER_RESULTS.read_text())["settings"]
    recorded = json.loads(BAR_FILE.read_text())["results"].get(f"{source}/caption+kb/over") if BAR_FILE.exists() else None
    if recorded is None:
        raise SystemExit(f"no unseen_bar.py 'over' run for {source}: run `python unseen_bar.py --datasets {source}` first")
    trainer = shapes_trainer(source, settings, "caption+kb", "over")
    trainer.train_span_detector()  # reloads the cached one
    folder = trainer.output_dir / "stage2-caption+kb-t0.2"
    model = ScannerEntityRecognizer.from_pretrained(folder).eval()
    builder = ScannerProcessor.from_pretrained(folder).prompt_builder(model.config)  # 0.1 folders: settings from config.json
    threshold = None if recorded["chosen"] == "None" else float(recorded["chosen"])

    def score(target: str, test, seen_split) -> dict:
        providers = trainer.providers if target == source else shapes_trainer(target, settings, "caption+kb", "over").providers
        return evaluate_two_stage(
            trainer.detector, trainer.detector_tokenizer, model, builder, test, train_split=seen_split, providers=providers,
            max_length=128, candidate_threshold=threshold,
        )

    return score


def checkpoint_scorer(source: str) -> Callable[..., dict]:
    """Scores of default_system.py's seed-42 checkpoint of ``source`` on a test split, with the target's
    knowledge as its preset names it (captions, merged KB), through ``model.predict``."""
    from default_system import CONFIGS, PRESETS

    from scanner_hf import ScannerForMultimodalNER
    from scanner_hf.evaluation.two_stage import evaluate_model
    from scanner_hf.training.recipe import knowledge_providers, load_recipe

    folder = BENCHMARK_DIR / "cache" / f"default-{source}-seed-42" / "scanner"
    if not folder.is_dir():
        raise SystemExit(f"no checkpoint {folder}: run `python benchmarks/default_system.py --datasets {source} --seeds 42` first")
    model = ScannerForMultimodalNER.from_pretrained(folder).eval()

    def score(target: str, test, seen_split) -> dict:
        providers = knowledge_providers(load_recipe(CONFIGS / PRESETS[target]).knowledge)
        return evaluate_model(model, test, train_split=seen_split, providers=providers)

    return score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--systems", nargs="*", choices=RUNNABLE_SYSTEMS, default=RUNNABLE_SYSTEMS, help="none: only rewrite the section")
    parser.add_argument("--sources", nargs="+", choices=DATASETS, default=list(DATASETS), help="the training datasets whose models run")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    data = {name: load_benchmark(name) for name in DATASETS}
    previous = json.loads(RAW_FILE.read_text()) if RAW_FILE.exists() else {}
    commands = merged_commands(previous, ran=bool(arguments.systems))
    raw = {key: value for key, value in previous.items() if "->" in key}  # the recorded rows
    for source in arguments.sources:
        seen = entity_strings(data[source]["train"])
        for system, row in SYSTEMS.items():
            if row not in arguments.systems:
                continue
            if row == "tokcls-words":
                tag = tagger_on_words(tokcls_folder(BENCHMARK_DIR / "cache" / source))
            elif row == "scanner-bar":
                bar = bar_scorer(source)
            elif row == "default":
                bar = checkpoint_scorer(source)
            else:
                run = build_runner(row, BENCHMARK_DIR / "cache" / source)
            for target in DATASETS:
                test = data[target]["test"]
                names = test.features["ner_tags"].feature.names
                tokens = list(test["tokens"])
                gold = [[names[i] for i in ids] for ids in test["ner_tags"]]
                if row in ("scanner-bar", "default"):
                    scores = bar(target, test, data[source]["train"])
                else:
                    if row == "tokcls-words":
                        predicted = tag(tokens)
                    else:
                        found = run([" ".join(t) for t in tokens])
                        predicted = [char_entities_to_tags(t, entities) for t, entities in zip(tokens, found)]
                    scores = entity_scores(gold, predicted, tokens=tokens, seen_entities=seen)
                raw[f"{source}->{target}/{system}"] = scores
                print(source, target, system, percent(scores["f1"]), flush=True)
    rows = []
    for source in DATASETS:
        for system, row in SYSTEMS.items():
            for target in DATASETS:
                scores = raw.get(f"{source}->{target}/{system}")
                if scores:
                    label = f"*removed*: {system}" if row in REMOVED_SYSTEMS else system
                    rows.append(
                        f"| {source} | {target} | {label} | {percent(scores['f1'])} | {percent(scores['seen']['f1'])} | "
                        f"{percent(scores['unseen']['f1'])} |"
                    )
    body = (
        "MiniLM, seed 42, the CPU budget of scanner_mner.py / baseline_tokcls.py; both systems through their pipelines, "
        "entities mapped from character offsets to the gold words (seqeval strict IOB2). The baseline's second row labels "
        "the gold words by their first sub-word (how baseline_tokcls.py scores it): the token-classification pipeline "
        "splits tweet words at punctuation (`@user` -> `@` + `user`) and labels sub-words the model was never trained "
        "to label, which costs it 2-3 F1 on Twitter-2015. SCANNER bar = unseen_bar.py's best configuration of the training "
        "dataset at its dev-chosen proposal setting, scored on the gold words with the test dataset's BLIP-2 captions and "
        "the merged KB. Seen = the entity string is an entity in the training dataset's train split. "
        + commands_note(commands) + "\n"
        "| trained on | tested on | system | F1 | seen F1 | unseen F1 |\n|---|---|---|---|---|---|\n" + "\n".join(rows)
    )
    write_section("cross_dataset", "Cross-dataset: Twitter-2017 model on Twitter-2015 test and back", body, {**raw, "commands": commands})


if __name__ == "__main__":
    main()
