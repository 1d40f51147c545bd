"""A synthetic grounded-MNER set, written in Twitter-GMNER's own layout so the real readers, recipe
and metrics run on it unchanged (the tweet images and VinVL regions cannot be had here).

Each image holds a few coloured shapes; each tweet names people or organisations, describes some of
them by the shape they are ("Kira , the red circle , meets ..."), and mentions a place that is not in
the image. Gold boxes (Pascal-VOC xml) exist for the described entities; candidate regions
(``objects/<id>.json``) hold the true shapes, loose boxes on them ("edge of a red circle", IoU < 0.5)
and background distractors, in random order.
Grounding is learnable only by reading the prompt: the entity's description must be matched to an
``<obj>`` text.

    root/twitter_gmner/Twitter10000/txt/{train,dev,test}.txt   # IMGID + token<TAB>tag
    root/twitter_gmner/Twitter10000/xml/<id>.xml               # <object><name>entity</name><bndbox>
    root/objects/<id>.json                                     # candidate regions
    root/images/<id>.png                                       # the drawn image
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (230, 200, 30), "purple": (140, 60, 170)}
SHAPES = ("circle", "square", "triangle")
NAMES = {
    "PER": ["Kira", "Dan", "Mo", "Lena", "Ravi", "Tess", "Omar", "Juno", "Pia", "Sven", "Ada", "Ike"],
    "ORG": ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Wonka", "Stark"],
}
PLACES = ["Paris", "Lagos", "Lima", "Oslo", "Kyoto", "Quito", "Perth", "Accra"]
VERBS = ["meets", "greets", "joins", "thanks", "follows", "praises"]
SPLITS = {"train": "train.txt", "dev": "dev.txt", "test": "test.txt"}


def _draw(draw: ImageDraw.ImageDraw, shape: str, box: list[float], colour: tuple[int, int, int]) -> None:
    if shape == "circle":
        draw.ellipse(box, fill=colour)
    elif shape == "square":
        draw.rectangle(box, fill=colour)
    else:
        x1, y1, x2, y2 = box
        draw.polygon([((x1 + x2) / 2, y1), (x2, y2), (x1, y2)], fill=colour)


def _place_boxes(rng: random.Random, count: int, size: tuple[int, int]) -> list[list[float]]:
    """Non-overlapping boxes on a grid so every shape is clearly separate."""
    columns, rows = 3, 2
    cells = rng.sample([(c, r) for c in range(columns) for r in range(rows)], count)
    width, height = size[0] / columns, size[1] / rows
    boxes = []
    for column, row in cells:
        side = rng.uniform(0.45, 0.8) * min(width, height)
        x1 = column * width + rng.uniform(0, width - side)
        y1 = row * height + rng.uniform(0, height - side)
        boxes.append([round(x1), round(y1), round(x1 + side), round(y1 + side)])
    return boxes


def _tweet(rng: random.Random, shapes: list[tuple[str, str, list[float]]]):
    """Tokens, tags and (entity string, gold box or None) for one tweet about an image's shapes."""
    entity_type = rng.choice(["PER", "PER", "ORG"])
    name, other = rng.sample(NAMES[entity_type], 2)
    colour, shape, box = rng.choice(shapes)
    second_type = rng.choice(["PER", "ORG"])
    second = rng.choice([n for n in NAMES[second_type] if n not in (name, other)])
    place = rng.choice(PLACES)
    verb = rng.choice(VERBS)
    tokens = [name, ",", "the", colour, shape, ",", verb, second, "in", place, "!"]
    tags = [f"B-{entity_type}", "O", "O", "O", "O", "O", "O", f"B-{second_type}", "O", "B-LOC", "O"]
    grounded = [(name, box), (second, None), (place, None)]
    if rng.random() < 0.4:  # the second entity is described too, and is in the image
        others = [s for s in shapes if s[2] is not box]
        colour2, shape2, box2 = rng.choice(others)
        tokens = tokens[:8] + [",", "the", colour2, shape2, ","] + tokens[8:]
        tags = tags[:8] + ["O"] * 5 + tags[8:]
        grounded[1] = (second, box2)
    return tokens, tags, grounded


def _voc(image_id: str, size: tuple[int, int], objects: list[tuple[str, list[float]]]) -> str:
    body = "".join(
        f"<object><name>{name}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for name, b in objects
    )
    return f"<annotation><filename>{image_id}.png</filename><size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>{body}</annotation>"


def _candidates(rng: random.Random, shapes, size) -> list[dict]:
    regions = [{"box": box, "label": f"{colour} {shape}", "score": round(rng.uniform(0.6, 0.99), 3)} for colour, shape, box in shapes]
    for colour, shape, box in shapes:  # a loose box on each shape (IoU well below 0.5), as detectors produce
        width = box[2] - box[0]
        shifted = [box[0] + 0.6 * width, box[1] + 0.6 * width, box[2] + 0.6 * width, box[3] + 0.6 * width]
        regions.append({"box": [round(v) for v in shifted], "label": f"edge of a {colour} {shape}", "score": round(rng.uniform(0.2, 0.5), 3)})
    for _ in range(rng.randint(1, 3)):  # background distractors
        x1, y1 = rng.uniform(0, size[0] * 0.7), rng.uniform(0, size[1] * 0.7)
        regions.append({"box": [round(x1), round(y1), round(x1 + 30), round(y1 + 30)], "label": rng.choice(["sky", "grass", "shadow"]), "score": 0.3})
    rng.shuffle(regions)
    return regions


def make_synthetic_gmner(root: str | Path, sizes: dict[str, int] | None = None, *, seed: int = 0, image_size=(240, 160)) -> Path:
    """Write the synthetic set under ``root`` (see the module docstring); returns ``root``."""
    root = Path(root)
    sizes = sizes or {"train": 600, "dev": 100, "test": 150}
    base = root / "twitter_gmner" / "Twitter10000"
    for folder in (base / "txt", base / "xml", root / "objects", root / "images"):
        folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    for split, count in sizes.items():
        lines = []
        for index in range(count):
            image_id = f"syn_{split}_{index}"
            n_shapes = rng.randint(2, 4)
            boxes = _place_boxes(rng, n_shapes, image_size)
            combos = rng.sample([(c, s) for c in COLOURS for s in SHAPES], n_shapes)
            shapes = [(colour, shape, box) for (colour, shape), box in zip(combos, boxes)]
            image = Image.new("RGB", image_size, (235, 235, 235))
            draw = ImageDraw.Draw(image)
            for colour, shape, box in shapes:
                _draw(draw, shape, box, COLOURS[colour])
            image.save(root / "images" / f"{image_id}.png")
            tokens, tags, grounded = _tweet(rng, shapes)
            lines += [f"IMGID:{image_id}"] + [f"{token}\t{tag}" for token, tag in zip(tokens, tags)] + [""]
            gold = [(name, box) for name, box in grounded if box is not None]
            (base / "xml" / f"{image_id}.xml").write_text(_voc(image_id, image_size, gold))
            (root / "objects" / f"{image_id}.json").write_text(json.dumps(_candidates(rng, shapes, image_size)))
        (base / "txt" / SPLITS[split]).write_text("\n".join(lines), encoding="utf-8")
    return root
