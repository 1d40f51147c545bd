"""Model cards for SCANNER checkpoints: ``huggingface_hub`` ``ModelCard`` from a Jinja template, with a
``model-index`` of ``EvalResult`` rows filled from the run's real test scores.

>>> card = build_model_card(CardInfo(model_id="org/scanner-t17", dataset="twitter2017", ...))  # doctest: +SKIP
>>> card.save("runs/x/scanner/README.md")                                                       # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

TEMPLATE = Path(__file__).resolve().parent.parent / "templates" / "model_card.md"

DATASET_NAMES = {
    "conll2003": ("CoNLL-2003", "English newswire, eng.train/testa/testb, IOB1 converted to IOB2"),
    "twitter2015": ("Twitter-2015", "UMT release; stray I- tags repaired to B-"),
    "twitter2017": ("Twitter-2017", "UMT release; MISC renamed OTHER"),
    "twitter_gmner": ("Twitter-GMNER", "v1, the ACL-2023 release"),
    "twitter_gmner_v2": ("Twitter-GMNER", "v2.0 (2023-07-28 revision)"),
}


@dataclass
class CardInfo:
    """What a card says; every number comes from the run that produced the checkpoint."""

    model_id: str
    dataset: str
    backbone: str
    entity_types: list[str]
    scores: dict  # nested entity scores on the test split (scanner_hf.evaluation.metrics.entity_scores)
    hyperparameters: dict = field(default_factory=dict)
    knowledge: dict = field(default_factory=dict)
    distillation: dict = field(default_factory=dict)
    notes: str | None = None


def _describe_knowledge(knowledge: dict) -> str:
    parts = [f"{name} ({value})" for name, value in sorted(knowledge.items()) if value]
    return ", ".join(parts) if parts else "none (text only)"


def _describe_distillation(distillation: dict) -> str:
    mode = distillation.get("mode", "none")
    if mode == "none":
        return "none (plain cross-entropy)"
    stages = ", ".join(distillation.get("stages", []))
    if mode == "fixed":
        return f"fixed alpha {distillation.get('fixed_alpha')} on {stages}"
    return f"Trust Your Teacher on {stages}"


def build_model_card(info: CardInfo) -> ModelCard:
    """Render the card (YAML metadata with ``model-index`` + the template's body)."""
    name, version = DATASET_NAMES.get(info.dataset, (info.dataset, "unversioned"))
    scores = info.scores  # empty when the run had no test split: the card then reports no numbers
    metric_rows = [(metric, scores[metric]) for metric in ("precision", "recall", "f1") if metric in scores]
    for part in ("seen", "unseen"):
        if part in scores and scores[part].get("support", 1) > 0:  # no gold entity of that part: no metric, not 0.0
            metric_rows.append((f"{part}_f1", scores[part]["f1"]))
    eval_results = [
        EvalResult(
            task_type="token-classification",
            task_name="Named Entity Recognition",
            dataset_type=info.dataset,
            dataset_name=f"{name} ({version})",
            dataset_split="test",
            metric_type=metric,
            metric_name=metric.replace("_", " "),
            metric_value=round(float(value), 4),
        )
        for metric, value in metric_rows
    ]
    card_data = ModelCardData(
        language="en",
        license="apache-2.0",
        library_name="transformers",
        pipeline_tag="token-classification",
        tags=["scanner-hf", "named-entity-recognition", "multimodal-ner"]
        + (["trust-your-teacher"] if info.distillation.get("mode", "none") != "none" else []),
        base_model=info.backbone if "/" in info.backbone and not Path(info.backbone).exists() else None,
        model_name=info.model_id,
        eval_results=eval_results or None,
    )
    headline = [(label, scores[metric]) for label, metric in (("precision", "precision"), ("recall", "recall"), ("F1", "f1")) if metric in scores]
    headline += [(f"{part} F1", scores[part]["f1"]) for part in ("seen", "unseen") if part in scores and scores[part].get("support", 1) > 0]
    headline += [("span-only F1", scores["span_f1"])] if "span_f1" in scores else []
    return ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATE),
        model_name=info.model_id.split("/")[-1],
        model_id=info.model_id,
        dataset_name=name,
        dataset_version=version,
        multimodal=info.dataset.startswith("twitter"),
        screening_threshold=info.hyperparameters.get("screening_threshold"),
        backbone=info.backbone,
        entity_types=info.entity_types,
        knowledge_description=_describe_knowledge(info.knowledge),
        distillation_description=_describe_distillation(info.distillation),
        headline=headline,
        per_type=sorted(scores.get("per_type", {}).items()),
        hyperparameters=sorted((str(k), v) for k, v in info.hyperparameters.items()),
        notes=info.notes,
    )


# each stage's TrainingArguments the card lists
CARD_STAGE_FIELDS = ("num_train_epochs", "per_device_train_batch_size", "gradient_accumulation_steps", "learning_rate",
                     "weight_decay", "warmup_steps", "bf16", "seed", "max_train_samples")


def dataset_label(name: str | None) -> str:
    """What a card calls the training data: a benchmark or Hub name as it is, a local folder or file by
    its name (never this machine's path)."""
    if not name:
        return "custom data"
    return Path(name).name if Path(name).exists() else name


def card_info(model, args, dataset: str, scores: dict) -> CardInfo:
    """What the card of a trained composite says: its config, the training arguments (``args``:
    ``ScannerTrainingArguments``) and the test ``scores``."""
    knowledge, config = args.knowledge, model.config
    recognizer = config.entity_recognizer_config
    hyperparameters = {
        f"{stage}.{name}": getattr(getattr(args, stage), name, None)
        for stage in ("stage1", "stage2") for name in CARD_STAGE_FIELDS
        if getattr(getattr(args, stage), name, None) not in (None, False)
    }
    hyperparameters.update(
        non_entity_folds=args.non_entity_folds, max_prompt_length=model.processor.max_prompt_length,
        max_objects=recognizer.max_objects, grounding_weight=recognizer.grounding_weight, awp=args.awp is not None,
        word_shapes=config.span_detector_config.word_shapes, candidate_threshold=config.candidate_threshold,
    )
    if model.processor.max_context_words is not None:
        hyperparameters["max_context_words"] = model.processor.max_context_words
    if config.stage1_screening:
        hyperparameters.update(stage1_screening=True, screening_threshold=config.screening_threshold)
    wikipedia = (config.knowledge or {}).get("wikipedia")
    captions = [knowledge.captions] if isinstance(knowledge.captions, str) else list(knowledge.captions or [])
    return CardInfo(
        model_id=args.model_id or args.push_to_hub or Path(args.output_dir).name,
        dataset=dataset,
        backbone=config.backbone or "unknown",
        entity_types=list(recognizer.entity_types),
        scores=scores,
        hyperparameters=hyperparameters,
        knowledge={
            "captions": ", ".join(Path(f).name for f in captions) or None,
            "wikipedia": " + ".join(wikipedia) if wikipedia else None,
            "LLM": "PGIM/RiVEG ChatGPT knowledge" if knowledge.llm is True
            else f"live: {knowledge.llm.get('model')}" if knowledge.llm else None,
            "objects": f"candidate regions, up to {recognizer.max_objects}" if knowledge.objects else None,
        },
        distillation=dataclasses.asdict(args.distillation),
    )


def push_folder_to_hub(folder: Path, repo_id: str) -> None:
    """Upload a saved checkpoint folder (weights, code, tokenizer, card) to a Hub repo in one commit."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, exist_ok=True)
    api.upload_folder(repo_id=repo_id, folder_path=str(folder), commit_message="SCANNER checkpoint from scanner-hf")
