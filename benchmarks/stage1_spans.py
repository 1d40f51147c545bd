"""SCANNER stage 1: span-candidate detection P/R/F1 (untyped), same data and budget as the baseline.

python benchmarks/stage1_spans.py [--datasets twitter2015 twitter2017] [--epochs 3]
"""

from __future__ import annotations

from common import percent, write_section
from token_classification import run_from_command_line


def format_row(name: str, scores: dict) -> str:
    return (
        f"| {name} | {percent(scores['precision'])} | {percent(scores['recall'])} | {percent(scores['f1'])} | "
        f"{percent(scores['seen']['recall'])} | {percent(scores['unseen']['recall'])} | {scores['train_seconds']:.0f} |"
    )


def main() -> None:
    budget, rows, raw = run_from_command_line(__doc__, "untyped", format_row)
    body = (
        f"ScannerSpanDetector (untyped O/B/I), backbone `{budget.backbone}`, {budget.epochs:g} epochs, "
        f"batch {budget.batch_size}, lr {budget.learning_rate:g}, seed {budget.seed}. Test split, span-only "
        "matching (boundaries, no type). Recall on seen/unseen entities is the ceiling stage 2 works under.\n\n"
        "| dataset | span P | span R | span F1 | seen R | unseen R | train s |\n"
        "|---|---|---|---|---|---|---|\n" + "\n".join(rows)
    )
    write_section("stage1_spans", "Stage 1: span-candidate detection", body, raw)


if __name__ == "__main__":
    main()
