"""Noisy-label audit on Twitter-2015 train: the 50 gold entities the stage-2 model distrusts most.

The teacher is scanner_mner.py's Twitter-2015 text-only stage-2 model (plain CE, trained on this same
training split, as a TYT teacher is). The ranked report goes to benchmarks/results/audit_twitter2015.{md,jsonl};
the reading of it (how many of the 50 are visibly mislabelled) is written up in RESULTS.md by hand.

    python benchmarks/audit_twitter2015.py [--top 50]
"""

from __future__ import annotations

import argparse

from common import BENCHMARK_DIR

from scanner_hf import ScannerEntityRecognizer, ScannerProcessor
from scanner_hf.data import load_benchmark
from scanner_hf.evaluation.audit import audit_candidates, write_audit_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--top", type=int, default=50)
    arguments = parser.parse_args()
    folder = BENCHMARK_DIR / "cache" / "twitter2015" / "stage2-text"
    teacher = ScannerEntityRecognizer.from_pretrained(folder).eval()
    train = load_benchmark("twitter2015")["train"]
    items = audit_candidates(teacher, ScannerProcessor.from_pretrained(folder).prompt_builder(teacher.config), train)
    jsonl, markdown = write_audit_report(items[: arguments.top], BENCHMARK_DIR / "results" / "audit_twitter2015")
    disagreements = sum(item.teacher_label != item.gold_label for item in items)
    print(markdown.read_text())
    print(f"{len(items)} gold entities audited; the teacher disagrees with {disagreements}; wrote {jsonl} and {markdown}")


if __name__ == "__main__":
    main()
