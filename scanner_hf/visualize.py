"""Pictures of predictions: the text with entities highlighted (HTML) and the image with the predicted
boxes and labels drawn (PNG).

>>> entities = ner("Steve Kerr praises the Warriors", image="tweet.jpg")         # doctest: +SKIP
>>> Path("out.html").write_text(render_html(text, entities))                    # doctest: +SKIP
>>> render_image("tweet.jpg", entities).save("out.png")                         # doctest: +SKIP
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

COLOURS = {"PER": "#e4572e", "LOC": "#29a329", "ORG": "#1f77b4", "OTHER": "#a05195", "MISC": "#a05195"}
FALLBACK_COLOURS = ("#f3a712", "#17becf", "#8c564b", "#7f7f7f")


def colour_for(label: str) -> str:
    if label in COLOURS:
        return COLOURS[label]
    return FALLBACK_COLOURS[sum(map(ord, label)) % len(FALLBACK_COLOURS)]


def render_html(text: str, entities: Sequence[dict], *, title: str | None = None) -> str:
    """A standalone HTML page: ``text`` with each entity (pipeline output) marked with its label and
    score; everything else escaped."""
    pieces, cursor = [], 0
    for entity in sorted(entities, key=lambda e: e["start"]):
        if entity["start"] < cursor:
            continue  # overlapping spans cannot both be marked inline
        pieces.append(html.escape(text[cursor : entity["start"]]))
        label = entity["entity_group"]
        tip = f"{label} {entity['score']:.2f}"
        if entity.get("box") is not None:
            tip += f" box {[round(v) for v in entity['box']]}"
        pieces.append(
            f'<mark style="background:{colour_for(label)}33;border:1px solid {colour_for(label)};'
            f'border-radius:4px;padding:0 3px" title="{html.escape(tip)}">'
            f"{html.escape(text[entity['start']:entity['end']])}"
            f'<sup style="color:{colour_for(label)};font-weight:bold;margin-left:2px">{html.escape(label)}</sup></mark>'
        )
        cursor = entity["end"]
    pieces.append(html.escape(text[cursor:]))
    heading = f"<h3>{html.escape(title)}</h3>" if title else ""
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>scanner-hf</title></head>'
        f'<body style="font-family:sans-serif;line-height:2;max-width:50em;margin:2em">{heading}'
        f'<p>{"".join(pieces)}</p></body></html>'
    )


def _font(size: int) -> ImageFont.ImageFont:
    for name in ("DejaVuSans-Bold.ttf", "DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default()


def render_image(image: str | Path | Image.Image, entities: Sequence[dict], *, line_width: int | None = None) -> Image.Image:
    """The image with each grounded entity's box and ``label: text`` drawn; entities without a box
    are listed in a band at the bottom ("not in the image", or, for a model that does not ground,
    just listed), wrapped to the image width."""
    picture = (Image.open(image) if not isinstance(image, Image.Image) else image).convert("RGB")
    draw = ImageDraw.Draw(picture)
    width = line_width or max(2, round(min(picture.size) / 150))
    font = _font(max(12, round(min(picture.size) / 25)))
    ungrounded = []
    for entity in entities:
        label = f"{entity['entity_group']}: {entity['word']}"
        if entity.get("box") is None:
            ungrounded.append(label)
            continue
        x1, y1, x2, y2 = entity["box"]
        colour = colour_for(entity["entity_group"])
        draw.rectangle([x1, y1, x2, y2], outline=colour, width=width)
        text_box = draw.textbbox((x1, y1), label, font=font)
        height = text_box[3] - text_box[1]
        top = y1 - height - 2 * width if y1 - height - 2 * width >= 0 else y1
        draw.rectangle([x1, top, x1 + (text_box[2] - text_box[0]) + 2 * width, top + height + 2 * width], fill=colour)
        draw.text((x1 + width, top + width - text_box[1] + y1), label, fill="white", font=font)
    if ungrounded:
        grounding_model = any("box" in entity for entity in entities)
        heading = "not in the image:" if grounding_model else "entities (this model does not ground):"
        _draw_note(draw, picture.size, [heading, *ungrounded], font, width)
    return picture


def _draw_note(draw: ImageDraw.ImageDraw, size: tuple[int, int], words: list[str], font, margin: int) -> None:
    """A dark band at the bottom with ``words`` wrapped to the image width."""
    lines, current = [], ""
    for word in words:
        candidate = f"{current}, {word}" if current and not current.endswith(":") else f"{current} {word}".strip()
        if current and draw.textlength(candidate, font=font) > size[0] - 2 * margin:
            lines.append(current)
            current = word
        else:
            current = candidate
    lines.append(current)
    line_height = draw.textbbox((0, 0), "Ag", font=font)[3] + margin
    top = size[1] - line_height * len(lines) - margin
    draw.rectangle([0, top - margin, size[0], size[1]], fill="#000000")
    for index, line in enumerate(lines):
        draw.text((margin, top + index * line_height), line, fill="white", font=font)
