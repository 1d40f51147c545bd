"""Where the merged entity KB helped and where it misled: SCANNER text-only against SCANNER + merged KB
(both seed 42, stage 2 from scanner_mner.py's cache, the same stage 1), per gold type, on the gold
entities of the test split. An entity counts as right when a prediction has its span and type.
"helped" = wrong without the KB, right with it; "misled" = the reverse; each split by whether the KB
had an entry for the entity string. Two trainings of the same stage 2 with different seeds also disagree on
some entities: the "text vs text" columns count those flips between the seed-42 and a second text-only
stage 2 (the noise floor a helped/misled count must clear). Examples list what the prompt said.

    python benchmarks/kb_effect.py [--datasets twitter2017 twitter2015] [--kb-variant text+kb-geonames]
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter, defaultdict

from common import BENCHMARK_DIR, commands_note, merged_commands, write_section

DATASET_ORDER = ["twitter2017", "twitter2015"]
from scanner_mner import LABELS, benchmark_trainer, stage2_folder

from scanner_hf.inference import predict_entities
from scanner_hf.knowledge.coverage import gold_spans


def right_entities(name: str, settings: dict, variant: str, seed: int | None = None):
    """The gold-comparable entities ``(sentence, start, end, label)`` one cached stage 2 predicts on
    test, with its trainer (another seed's model lives in ``seed-<n>/`` of the cache)."""
    trainer = benchmark_trainer(name, settings, variant, seed)
    subfolder = f"seed-{seed}" if seed is not None else None
    folder = stage2_folder(trainer, variant, subfolder)
    if not (folder / "config.json").exists():
        return None, trainer
    model, _, builder = trainer.train_entity_recognizer(folder)  # reloads the cached model
    test = trainer.test_dataset
    entities = predict_entities(
        trainer.detector, trainer.detector_tokenizer, model, builder, test["tokens"], test["image_id"], trainer.providers
    )
    return {(i, e.start, e.end, e.label) for i, row in enumerate(entities) for e in row}, trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", nargs="+", default=["twitter2017", "twitter2015"])
    parser.add_argument("--render", action="store_true", help="rewrite the section from the recorded tables, run nothing")
    parser.add_argument("--kb-variant", default="text+kb", help="the scanner_mner.py variant compared with text only")
    parser.add_argument("--control-seed", type=int, default=43,
                        help="a second text-only stage 2 (headline_seeds.py's) whose disagreements with seed 42 show training noise")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import json

    from scanner_mner import RESULTS_FILE

    settings = json.loads(RESULTS_FILE.read_text())["settings"]
    default = arguments.kb_variant == "text+kb"  # the section every earlier run wrote
    section = "kb_effect" if default else "kb_effect_" + arguments.kb_variant.replace("+", "_").replace("-", "_")
    raw_file = BENCHMARK_DIR / "results" / f"{section}.json"
    raw = json.loads(raw_file.read_text()) if raw_file.exists() else {}
    parts: dict[str, str] = raw.setdefault("parts", {})  # the datasets not run now keep their recorded tables
    raw["commands"] = merged_commands(raw, ran=not arguments.render)
    for name in arguments.datasets if not arguments.render else []:
        right: dict[str, set] = {}
        kb_text: dict[str, str | None] = {}
        for variant in ("text", arguments.kb_variant):
            right[variant], trainer = right_entities(name, settings, variant)
            if right[variant] is None:
                raise SystemExit(f"the {variant} stage 2 is missing: run scanner_mner.py --datasets {name} --variants {variant} first")
            test, providers = trainer.test_dataset, trainer.providers
            if providers:
                kb = providers[0].kb
                strings = list(dict.fromkeys(" ".join(test["tokens"][i][s:e]) for i, s, e, _ in gold_spans(test)))
                kb_text = dict(zip(strings, kb.lookup_many(strings)))
        control, _ = right_entities(name, settings, "text", arguments.control_seed)
        table: dict[str, Counter] = defaultdict(Counter)
        examples: dict[str, list[str]] = {"helped": [], "misled": []}
        for entity in gold_spans(test):
            string = " ".join(test["tokens"][entity[0]][entity[1] : entity[2]])
            hit = "hit" if kb_text.get(string) else "miss"
            before, after = entity in right["text"], entity in right[arguments.kb_variant]
            outcome = "helped" if after and not before else "misled" if before and not after else "same"
            table[entity[3]][f"{outcome}_{hit}"] += 1
            table[entity[3]][f"entities_{hit}"] += 1
            if control is not None:
                table[entity[3]][f"noise_{hit}"] += before != (entity in control)
            if outcome != "same" and hit == "hit" and len(examples[outcome]) < 12:
                examples[outcome].append(f"`{string}` ({entity[3]}): {kb_text[string]!r}"[:200])
        raw[name] = {label: dict(counts) for label, counts in table.items()}

        def noise(c: Counter, hit: str) -> str:
            return str(c[f"noise_{hit}"]) if control is not None else "-"

        rows = "\n".join(
            f"| {label} | {c['entities_hit']} | {c['helped_hit']} | {c['misled_hit']} | {c['helped_hit'] - c['misled_hit']:+d} | {noise(c, 'hit')} | "
            f"{c['entities_miss']} | {c['helped_miss']} | {c['misled_miss']} | {c['helped_miss'] - c['misled_miss']:+d} | {noise(c, 'miss')} |"
            for label, c in sorted(table.items())
        )
        control_note = (
            f"*text vs text*: entities that a second text-only stage 2 (seed {arguments.control_seed}) gets right and seed 42 "
            "wrong or the reverse: how many helped + misled two trainings give without any KB."
            if control is not None else f"No seed-{arguments.control_seed} text-only stage 2 in the cache (headline_seeds.py trains it): no noise column."
        )
        parts[name] = (
            f"### {name} test\n\n{control_note}\n\n| gold type | entities with a KB entry | helped | misled | net | text vs text | "
            "without an entry | helped | misled | net | text vs text |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|\n" + rows + "\n\nHelped, with what the KB said:\n"
            + "".join(f"- {line}\n" for line in examples["helped"]) + "\nMisled, with what the KB said:\n"
            + "".join(f"- {line}\n" for line in examples["misled"])
        )
    label = LABELS.get(arguments.kb_variant, arguments.kb_variant).lstrip("+ ")
    body = (
        f"SCANNER text-only vs SCANNER + {label} (seed 42; same stage 1; stage 2 trained with and without the KB). "
        "Counts of gold test entities; an entity is right when predicted with its exact span and type. "
        + commands_note(raw["commands"]) + "\n"
        + "\n".join(parts[name] for name in sorted(parts, key=lambda name: DATASET_ORDER.index(name) if name in DATASET_ORDER else 99))
    )
    print(body)
    title = "Entity KB" if default else f"Entity KB ({label})"
    write_section(section, f"{title}: where lookups helped and where they misled", body, raw)


if __name__ == "__main__":
    main()
