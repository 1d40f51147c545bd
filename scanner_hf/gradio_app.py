"""The Gradio demo of a checkpoint (``scanner-ner demo --model M``; ``space/app.py`` for a Hugging Face Space):
a text and an optional image in; the entities highlighted in the text, the boxes on the image for a
grounding model, and the knowledge each entity's prompt used, out."""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr

logger = logging.getLogger(__name__)

EXAMPLES = ["Steve Kerr praises the Warriors after the win in Oakland", "#mufc fans queue outside Old Trafford"]


def explain(entities: list[dict]) -> list[dict]:
    """One row per entity: what it is and what its prompt was given (KB entries, caption, LLM text,
    objects in the prompt, and what the token budget cut)."""
    rows = []
    for entity in entities:
        knowledge = entity.get("knowledge") or {}
        rows.append({
            "entity": entity["word"], "type": entity["entity_group"], "score": round(entity["score"], 3),
            "kb": [{key: entry[key] for key in ("title", "types", "description", "matched_name")} for entry in knowledge.get("kb", [])],
            "caption": knowledge.get("caption"), "llm": knowledge.get("llm"),
            "objects": [obj["label"] for obj in knowledge.get("objects", []) if obj.get("in_prompt")],
            "cut by the prompt budget": knowledge.get("cut") or {},
        })
    return rows


def recognise(ner, text: str, image: Any = None) -> tuple[dict, Any, list[dict]]:
    """The three outputs of the demo for one text (and image)."""
    if not text or not text.strip():
        raise gr.Error("Type a text first.")
    inputs: dict[str, Any] = {"text": text}
    if image is not None:
        inputs["image"] = image
    entities = ner(inputs, return_knowledge=True)
    highlighted = {"text": text, "entities": [{"entity": e["entity_group"], "start": e["start"], "end": e["end"]} for e in entities]}
    boxes = None
    if image is not None:
        boxes = (image, [(tuple(int(v) for v in e["box"]), f"{e['entity_group']}: {e['word']}") for e in entities if e.get("box")])
    return highlighted, boxes, explain(entities)


def build_demo(ner, title: str = "SCANNER: named entities with the knowledge behind them") -> gr.Blocks:
    """The demo's page for a ``scanner-ner`` pipeline."""
    grounding = ner.model.config.entity_recognizer_config.grounding_weight > 0
    types = ", ".join(t for t in ner.model.config.entity_recognizer_config.entity_types)
    with gr.Blocks(title="SCANNER") as demo:
        gr.Markdown(f"## {title}\nEntity types: {types}. " + ("The model also finds each entity's box in the image." if grounding else ""))
        with gr.Row():
            text = gr.Textbox(label="Text", lines=3, elem_id="text", placeholder=EXAMPLES[0])
            image = gr.Image(label="Image (optional)", type="pil", elem_id="image")
        submit = gr.Button("Recognise", variant="primary", elem_id="submit")
        highlighted = gr.HighlightedText(label="Entities", elem_id="entities", combine_adjacent=False, show_legend=True)
        boxes = gr.AnnotatedImage(label="Entity boxes", elem_id="boxes", visible=grounding)
        knowledge = gr.JSON(label="The knowledge behind each entity", elem_id="knowledge", open=True)
        gr.Examples(EXAMPLES, inputs=[text])
        submit.click(lambda t, i: recognise(ner, t, i), inputs=[text, image], outputs=[highlighted, boxes, knowledge])
        text.submit(lambda t, i: recognise(ner, t, i), inputs=[text, image], outputs=[highlighted, boxes, knowledge])
    return demo
