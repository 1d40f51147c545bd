"""Baseline: AutoModelForTokenClassification (typed BIO) on MiniLM, 3 epochs, Twitter-2015/2017.

The comparison row for every later SCANNER number: test P/R/F1, per type, seen/unseen.

    python benchmarks/baseline_tokcls.py [--datasets twitter2015 twitter2017] [--epochs 3]
"""

from __future__ import annotations

from common import percent, write_section
from token_classification import run_from_command_line

TYPES = ("PER", "LOC", "ORG", "OTHER")


def format_row(name: str, scores: dict) -> str:
    per_type = " | ".join(percent(scores["per_type"].get(t, {"f1": 0})["f1"]) for t in TYPES)
    return (
        f"| {name} | {percent(scores['precision'])} | {percent(scores['recall'])} | {percent(scores['f1'])} | "
        f"{per_type} | {percent(scores['seen']['f1'])} | {percent(scores['unseen']['f1'])} | "
        f"{percent(scores['span_f1'])} | {scores['train_seconds']:.0f} |"
    )


def main() -> None:
    budget, rows, raw = run_from_command_line(__doc__, "typed", format_row)
    body = (
        f"AutoModelForTokenClassification (typed BIO), backbone `{budget.backbone}`, {budget.epochs:g} epochs, "
        f"batch {budget.batch_size}, lr {budget.learning_rate:g}, seed {budget.seed}. Test split; seqeval strict "
        "IOB2; seen = entity string occurs as an entity in train.\n\n"
        "| dataset | P | R | F1 | PER | LOC | ORG | OTHER | seen F1 | unseen F1 | span F1 | train s |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows)
    )
    write_section("baseline_tokcls", "Baseline: token classification (typed BIO)", body, raw)


if __name__ == "__main__":
    main()
