"""One loader for the user's own NER data: the same ``DatasetDict`` the benchmark readers return
(``id``, ``tokens``, ``ner_tags`` as a ``ClassLabel`` over IOB2 tags, ``image_id``; ``image`` when
images are given) from

- a benchmark name (``twitter2017``, ...);
- CoNLL / BIO files: a folder with split files under common names (``train.txt``, ``dev.txt``,
  ``valid.txt``, ``test.txt``, ``eng.train``, ``*.conll``, ...) or explicit paths per split; token
  first, tag last, tab or space separated; IOB1, IOB2 or BIOES (detected, or stated); optional
  ``IMGID:`` lines and ``-DOCSTART-``;
- JSON Lines: ``{"tokens": [...], "ner_tags": [...]}`` or ``{"text": ..., "entities": [{"start",
  "end", "label"}]}`` with character offsets (split into words by the package's word splitting; an
  entity boundary inside a word is an error, never silently moved);
- a ``datasets`` dataset: a ``save_to_disk`` folder, parquet / CSV / JSON files, a Hub id, or a
  ``Dataset`` / ``DatasetDict`` object, with tags as ``ClassLabel`` ints or strings; column names
  configurable.

Images: an image column (``datasets.Image`` / PIL) is kept as ``image``; an image-id column plus
``image_dir`` gives ``image`` paths (a missing file is an error). Labels are unified across splits; a
dataset without a validation split gets one carved from train (seeded, logged). Bad input raises
:class:`DataFormatError` naming the split and row (or file and line).

>>> splits = load_ner_dataset("my_data/")                                     # doctest: +SKIP
>>> splits = load_ner_dataset({"train": "a.conll", "test": "b.conll"}, tag_scheme="bioes")  # doctest: +SKIP
>>> splits = load_ner_dataset("tner/wnut2017", tags_column="tags")            # doctest: +SKIP
"""

from __future__ import annotations

import fnmatch
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import datasets

from ..tags import (
    bio_label_list,
    bioes_to_iob2,
    detect_tag_scheme,
    repair_stray_inside,
    split_tag,
    tags_to_spans,
)
from ..tokenization import split_words
from .benchmarks import (
    BENCHMARKS,
    DataFormatError,
    load_benchmark,
    ner_features,
    read_conll_file,
)

logger = logging.getLogger(__name__)

SPLIT_NAMES = ("train", "validation", "test")
# File-name patterns per split, first match wins (checked in this order).
SPLIT_PATTERNS = {
    "train": ("train.*", "*.train", "*train*"),
    "validation": ("dev.*", "valid.*", "validation.*", "val.*", "*.testa", "*.dev", "*dev*", "*valid*"),
    "test": ("test.*", "*.testb", "*.test", "*test*"),
}
CONLL_SUFFIXES = {".txt", ".conll", ".bio", ".iob", ".tsv", ".conllu", ""}
DATASET_SUFFIXES = {".parquet": "parquet", ".csv": "csv", ".json": "json"}


def _find_split_files(folder: Path) -> dict[str, Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() != ".md")
    found: dict[str, Path] = {}
    for split, patterns in SPLIT_PATTERNS.items():
        for pattern in patterns:
            matches = [p for p in files if fnmatch.fnmatch(p.name.lower(), pattern) and p not in found.values()]
            if matches:
                if len(matches) > 1:
                    raise DataFormatError(f"{folder}: several {split} files match {pattern!r}: {[p.name for p in matches]}; pass paths per split")
                found[split] = matches[0]
                break
    if "train" not in found:
        raise DataFormatError(f"{folder}: no training file found (looked for {SPLIT_PATTERNS['train']}); pass paths per split")
    return found


def _format_of(paths: Sequence[Path]) -> str:
    suffixes = {p.suffix.lower() for p in paths}
    if suffixes <= {".jsonl"}:
        return "jsonl"
    if len(suffixes) == 1 and next(iter(suffixes)) in DATASET_SUFFIXES:
        return DATASET_SUFFIXES[next(iter(suffixes))]
    if suffixes <= CONLL_SUFFIXES or all(p.suffix.lower() not in DATASET_SUFFIXES for p in paths):
        return "conll"
    raise DataFormatError(f"mixed file types {sorted(suffixes)}: give one format for all splits")


# ---- rows from each kind of source ------------------------------------------------------------


def _rows_from_conll(path: Path, tag_scheme: str) -> list[dict]:
    sentences, report = read_conll_file(path, tag_scheme=tag_scheme)
    report.log()
    return [{"tokens": s["tokens"], "tags": s["tags"], "image_id": s["image_id"]} for s in sentences]


def _entities_to_tags(text: str, entities: Sequence[Mapping], where: str) -> tuple[list[str], list[str]]:
    words = split_words(text)
    if not words:
        raise DataFormatError(f"{where}: the text is empty")
    starts = {word.start: index for index, word in enumerate(words)}
    ends = {word.end: index for index, word in enumerate(words)}
    tags = ["O"] * len(words)
    for entity in sorted(entities, key=lambda e: e.get("start", 0)):
        try:
            start, end, label = int(entity["start"]), int(entity["end"]), str(entity["label"])
        except (KeyError, TypeError, ValueError):
            raise DataFormatError(f"{where}: an entity needs integer 'start', 'end' and a 'label', got {entity!r}") from None
        if start not in starts or end not in ends or start >= end:
            raise DataFormatError(
                f"{where}: entity {text[start:end]!r} [{start}:{end}] ({label}) does not start and end at word boundaries "
                f"(words: {[w.text for w in words if w.end > start and w.start < end]})"
            )
        first, last = starts[start], ends[end]
        if any(tag != "O" for tag in tags[first : last + 1]):
            raise DataFormatError(f"{where}: entity {text[start:end]!r} overlaps another entity")
        tags[first : last + 1] = [f"B-{label}"] + [f"I-{label}"] * (last - first)
    return [word.text for word in words], tags


def _rows_from_jsonl(path: Path, tokens_column: str, tags_column: str, image_id_column: str) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_number}"
            try:
                value = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataFormatError(f"{where}: not JSON ({error.msg})") from None
            if not isinstance(value, dict):
                raise DataFormatError(f"{where}: expected a JSON object")
            if tokens_column in value:
                tokens, tags = value[tokens_column], value.get(tags_column)
                if tags is None or any(not isinstance(t, str) for t in tags):
                    raise DataFormatError(f"{where}: '{tags_column}' must be a list of tag strings (B-PER, O, ...)")
            elif "text" in value:
                tokens, tags = _entities_to_tags(str(value["text"]), value.get("entities") or [], where)
            else:
                raise DataFormatError(f"{where}: a record needs '{tokens_column}' + '{tags_column}', or 'text' + 'entities'")
            rows.append({"tokens": list(tokens), "tags": list(tags), "image_id": value.get(image_id_column), "_where": where})
    return rows


def _rows_from_dataset(split: datasets.Dataset, name: str, columns: Mapping[str, str]) -> list[dict]:
    tokens_column, tags_column = columns["tokens"], columns["tags"]
    missing = {tokens_column, tags_column} - set(split.column_names)
    if missing:
        raise DataFormatError(f"split {name!r}: no column {sorted(missing)}; columns are {split.column_names} (set tokens_column / tags_column)")
    feature = split.features[tags_column]
    inner = getattr(feature, "feature", None)
    names = inner.names if isinstance(inner, datasets.ClassLabel) else None
    rows = []
    for index, row in enumerate(split):
        tags = row[tags_column]
        if names is not None:
            tags = [names[t] for t in tags]
        elif any(not isinstance(t, str) for t in tags):
            raise DataFormatError(f"split {name!r} row {index}: tags are ints without a ClassLabel naming them; give tag strings")
        image_id = row.get(columns["image_id"]) if columns["image_id"] in split.column_names else None
        image = row.get(columns["image"]) if columns["image"] and columns["image"] in split.column_names else None
        rows.append({"tokens": row[tokens_column], "tags": list(tags), "image_id": image_id, "image": image,
                     "_where": f"split {name!r} row {index}"})
    return rows


def _dataset_splits(source: Any, hub_config: str | None) -> dict[str, datasets.Dataset]:
    if isinstance(source, datasets.DatasetDict):
        return dict(source)
    if isinstance(source, datasets.Dataset):
        return {"train": source}
    path = Path(str(source))
    if path.is_dir() and ((path / "dataset_dict.json").exists() or (path / "state.json").exists()):
        loaded = datasets.load_from_disk(str(path))
        return dict(loaded) if isinstance(loaded, datasets.DatasetDict) else {"train": loaded}
    return dict(datasets.load_dataset(str(source), hub_config))


# ---- the loader ---------------------------------------------------------------------------------


def _clean_rows(rows: list[dict], split: str, tag_scheme: str) -> tuple[list[dict], str]:
    for row in rows:
        where = row.get("_where") or f"split {split!r}"
        if not row["tokens"]:
            raise DataFormatError(f"{where}: empty sentence")
        if len(row["tokens"]) != len(row["tags"]):
            raise DataFormatError(f"{where}: {len(row['tokens'])} tokens but {len(row['tags'])} tags")
        for tag in row["tags"]:
            try:
                split_tag(tag, bioes=True)
            except ValueError as error:
                raise DataFormatError(f"{where}: {error}") from None
    scheme = detect_tag_scheme([row["tags"] for row in rows]) if tag_scheme == "auto" else tag_scheme
    repaired = 0
    for row in rows:
        tags = bioes_to_iob2(row["tags"]) if scheme == "bioes" else row["tags"]
        row["tags"], count = repair_stray_inside(tags)
        repaired += 0 if scheme == "iob1" else count
    if repaired:
        logger.warning("split %r: %d stray I- tags (after O or another type) repaired to B-", split, repaired)
    return rows, scheme


def load_ner_dataset(
    source: str | Path | Mapping[str, str | Path] | datasets.Dataset | datasets.DatasetDict,
    *,
    format: str | None = None,
    tag_scheme: str = "auto",
    label_map: Mapping[str, str] | None = None,
    tokens_column: str = "tokens",
    tags_column: str = "ner_tags",
    image_column: str | None = "image",
    image_id_column: str = "image_id",
    image_dir: str | Path | None = None,
    hub_config: str | None = None,
    validation_size: float = 0.1,
    seed: int = 42,
    data_dir: str | Path | None = None,
) -> datasets.DatasetDict:
    """Load labelled NER data from anywhere (see the module docstring) as ``train`` / ``validation``
    (/ ``test`` when given) with IOB2 ``ner_tags`` over the labels of all splits.

    Args:
        source: a benchmark name, a folder, a file, ``{"train": path, ...}``, a Hub id, or a dataset object.
        format: ``conll``, ``jsonl``, ``parquet``, ``csv``, ``json``, ``datasets`` or ``hub``; detected when None.
        tag_scheme: ``iob1``, ``iob2``, ``bioes`` or ``auto`` (detected, logged).
        label_map: entity-type renaming, e.g. ``{"MISC": "OTHER"}``.
        image_dir: a folder of ``<image_id>.<ext>`` images for an image-id column.
        validation_size: the share of train carved out when there is no validation split.
    """
    if isinstance(source, str) and source in BENCHMARKS:
        return load_benchmark(source, data_dir, label_map=label_map if label_map is not None else "default")
    columns = {"tokens": tokens_column, "tags": tags_column, "image_id": image_id_column, "image": image_column}
    raw: dict[str, list[dict]] = {}
    is_dataset = isinstance(source, (datasets.Dataset, datasets.DatasetDict))  # (a DatasetDict is a Mapping too)
    if not is_dataset and (isinstance(source, Mapping) or Path(str(source)).exists()):
        if isinstance(source, Mapping):
            files = {_split_name(split): Path(path) for split, path in source.items()}
        elif Path(str(source)).is_dir() and not ((Path(str(source)) / "dataset_dict.json").exists() or (Path(str(source)) / "state.json").exists()):
            files = _find_split_files(Path(str(source)))
        else:
            files = {"train": Path(str(source))}
        for split, path in files.items():
            if not path.exists():
                raise FileNotFoundError(f"{split} file {path} not found")
        kind = format or (_format_of(list(files.values())) if all(p.is_file() for p in files.values()) else "datasets")
        if kind == "conll":
            raw = {split: _rows_from_conll(path, tag_scheme) for split, path in files.items()}
        elif kind == "jsonl":
            raw = {split: _rows_from_jsonl(path, tokens_column, tags_column, image_id_column) for split, path in files.items()}
        elif kind in ("parquet", "csv", "json"):
            loaded = datasets.load_dataset(kind, data_files={split: str(path) for split, path in files.items()})
            raw = {split: _rows_from_dataset(part, split, columns) for split, part in loaded.items()}
        elif kind == "datasets":
            raw = {_split_name(n): _rows_from_dataset(part, n, columns) for n, part in _dataset_splits(source, hub_config).items()}
        else:
            raise ValueError(f"unknown format {kind!r}: use conll, jsonl, parquet, csv, json or datasets")
    else:
        raw = {_split_name(n): _rows_from_dataset(part, n, columns) for n, part in _dataset_splits(source, hub_config).items()}
    unknown = set(raw) - set(SPLIT_NAMES)
    if unknown:
        logger.warning("splits %s are not train/validation/test and are left out", sorted(unknown))
    if "train" not in raw:
        raise DataFormatError(f"no train split in {sorted(raw)}")
    for split in [s for s in SPLIT_NAMES if s in raw]:
        raw[split], scheme = _clean_rows(raw[split], split, tag_scheme)
        logger.info("split %r: %d sentences, tags read as %s", split, len(raw[split]), scheme.upper())
    return _to_dataset_dict(raw, label_map, image_dir, validation_size, seed)


def _split_name(name: str) -> str:
    lowered = str(name).lower()
    return {"dev": "validation", "valid": "validation", "val": "validation", "eval": "validation"}.get(lowered, lowered)


def _to_dataset_dict(raw, label_map, image_dir, validation_size: float, seed: int) -> datasets.DatasetDict:
    def types(rows):
        return {span.label for row in rows for span in tags_to_spans(row["tags"])}

    for rows in raw.values():
        for row in rows:
            if label_map:
                row["tags"] = [t if t == "O" else f"{t[:2]}{label_map.get(t[2:], t[2:])}" for t in row["tags"]]
    train_types = types(raw["train"])
    for split in ("validation", "test"):
        extra = types(raw.get(split, [])) - train_types
        if extra:
            logger.warning("split %r has entity types that train never has: %s", split, sorted(extra))
    label_names = bio_label_list(sorted(set().union(*(types(rows) for rows in raw.values()))))
    with_images = image_dir is not None or any(row.get("image") is not None for rows in raw.values() for row in rows)
    features = dict(ner_features(label_names, with_boxes=False))  # the benchmark readers' schema
    if with_images:
        features["image"] = datasets.Image()
    splits = {}
    for split in [s for s in SPLIT_NAMES if s in raw]:
        rows = []
        for index, row in enumerate(raw[split]):
            image_id = None if row.get("image_id") is None else str(row["image_id"])
            record = {"id": str(index), "tokens": [str(t) for t in row["tokens"]], "ner_tags": row["tags"], "image_id": image_id}
            if with_images:
                record["image"] = row.get("image") or (_image_path(Path(image_dir), image_id, split, index) if image_dir else None)
            rows.append(record)
        splits[split] = datasets.Dataset.from_list(rows, features=datasets.Features(features))
    if "validation" not in splits:
        carved = splits["train"].train_test_split(test_size=validation_size, seed=seed)
        splits["train"], splits["validation"] = carved["train"], carved["test"]
        logger.warning("no validation split: %d of %d training sentences carved out as validation (seed %d)",
                       len(splits["validation"]), len(carved["train"]) + len(carved["test"]), seed)
    if "test" not in splits:
        logger.warning("no test split: test scores will not be computed")
    return datasets.DatasetDict({s: splits[s] for s in SPLIT_NAMES if s in splits})


def _image_path(folder: Path, image_id: str | None, split: str, index: int) -> str:
    if image_id is None:
        raise DataFormatError(f"split {split!r} row {index}: no image id, but an image folder was given")
    for candidate in (folder / image_id, *(folder / f"{image_id}{ext}" for ext in (".jpg", ".jpeg", ".png", ".webp", ".gif"))):
        if candidate.is_file():
            return str(candidate)
    raise DataFormatError(f"split {split!r} row {index}: no image {image_id!r} in {folder}")
