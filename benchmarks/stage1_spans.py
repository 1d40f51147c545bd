"""SCANNER stage 1: span-candidate detection P/R/F1 (untyped), same data and budget as the baseline.

    python benchmarks/stage1_spans.py [--datasets twitter2015 twitter2017] [--epochs 3]
"""

from __future__ import annotations

import argparse
import logging
import tempfile

from common import percent, write_section
from token_classification import Budget, train_and_score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", nargs="+", default=["twitter2015", "twitter2017"])
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--seed", type=int, default=42)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    budget = Budget(epochs=arguments.epochs, seed=arguments.seed)
    rows, raw = [], {"budget": vars(budget), "results": {}}
    for name in arguments.datasets:
        with tempfile.TemporaryDirectory() as output_dir:
            scores = train_and_score(name, "untyped", budget, output_dir)
        raw["results"][name] = scores
        rows.append(
            f"| {name} | {percent(scores['precision'])} | {percent(scores['recall'])} | {percent(scores['f1'])} | "
            f"{percent(scores['seen']['recall'])} | {percent(scores['unseen']['recall'])} | {scores['train_seconds']:.0f} |"
        )
        print(rows[-1], flush=True)
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
