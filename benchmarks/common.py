"""Shared plumbing for the benchmarks: machine description and RESULTS.md sections.

Each benchmark owns one section of ``benchmarks/RESULTS.md`` between ``<!-- BEGIN name -->`` and
``<!-- END name -->`` markers and rewrites only that section, so re-running one benchmark keeps the
others' rows. Raw numbers also go to ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import shlex
import statistics
import sys
from pathlib import Path

import torch
import transformers

BENCHMARK_DIR = Path(__file__).resolve().parent
RESULTS_FILE = BENCHMARK_DIR / "RESULTS.md"


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    flags = cpu_vector_flags()
    return (
        f"{os.cpu_count()} cores ({cpu}; {', '.join(flags) or 'no AVX'}), torch {torch.__version__} with {torch.get_num_threads()} threads, "
        f"transformers {transformers.__version__}, onnxruntime {installed_version('onnxruntime')}, Python {platform.python_version()}"
    )


def installed_version(distribution: str) -> str:
    """The installed version of a distribution, or "not installed" (onnxruntime is an extra)."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def cpu_vector_flags() -> list[str]:
    """The CPU's vector extensions that decide int8 / bf16 speed (AVX2, AVX-512 VNNI / BF16, AMX)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            flags = next(line.split(":", 1)[1].split() for line in handle if line.startswith("flags"))
    except (OSError, StopIteration):
        return []
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
    return [flag for flag in wanted if flag in flags]


def command_line() -> str:
    return "python " + " ".join(shlex.quote(part) for part in sys.argv)


def merged_commands(previous_raw: dict, ran: bool = True) -> list[str]:
    """The commands recorded in a results JSON whose rows are merged across invocations, plus this one
    when it ran something (``ran=False``: a run that only re-renders recorded rows adds nothing)."""
    commands = previous_raw.get("commands") or ([previous_raw["command"]] if "command" in previous_raw else [])
    return [*commands, command_line()] if ran else list(commands)


def commands_note(commands: list[str]) -> str:
    return "Rows were run by these commands (results merged):\n" + "".join(f"  `{c}`\n" for c in dict.fromkeys(commands))


def write_section(name: str, title: str, body: str, raw: dict) -> None:
    """Replace (or append) this benchmark's section of RESULTS.md and write its raw JSON."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"<!-- BEGIN {name} -->\n## {title}\n\n"
        f"- command: `{command_line()}`\n- machine: {machine_description()}\n- date: {stamp}\n\n"
        f"{body.strip()}\n<!-- END {name} -->\n"
    )
    text = RESULTS_FILE.read_text(encoding="utf-8") if RESULTS_FILE.exists() else "# Benchmark results\n\n"
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->\n"
    if begin in text and end in text:
        text = text[: text.index(begin)] + section + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS_FILE.write_text(text, encoding="utf-8")
    results_dir = BENCHMARK_DIR / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / f"{name}.json").write_text(json.dumps({"date": stamp, "command": command_line(), **raw}, indent=2))


def percent(value: float) -> str:
    return f"{100 * value:.2f}"


def spread(values: list[float]) -> str:
    """Mean ± sample standard deviation, in percent (over seeds); one value alone has no spread to show."""
    mean = statistics.mean(values)
    return f"{percent(mean)} ± {percent(statistics.stdev(values))}" if len(values) > 1 else percent(mean)


OLD_TOLERANCE = 0.001  # the screening rule before 2026-12-04: the lowest threshold within 0.1 F1 of stage 2 alone on validation


def tolerance_rule(dev: dict) -> float:
    """The screening threshold the old rule picks from the validation F1 per threshold (1.0 when none is close enough)."""
    thresholds = sorted(float(key) for key in dev if key not in ("recogniser", "screener"))
    return next((t for t in thresholds if dev[str(t)]["f1"] >= dev["recogniser"]["f1"] - OLD_TOLERANCE), 1.0)


def typed_again(run: dict) -> float:
    """The share of validation candidates stage 2 typed at the threshold a screening run chose (1.0 at
    the fallback threshold 1.0, which no tried row holds)."""
    return run["dev"].get(str(run["threshold"]), {"typed_again": 1.0})["typed_again"]


def screening_tables(seeds: dict, labels: dict[str, str], dev_seed: str, extra_rows: list[str] | tuple = ()) -> tuple[str, str, str]:
    """What screening.py and stage1_screening.py report over their seeds: ``dev_seed``'s validation F1 and
    share typed by stage 2 per threshold tried, the thresholds chosen, and the test F1 (unseen F1) of each
    system in ``labels`` per seed (with mean ± sd over several seeds), then ``extra_rows``."""
    ordered = sorted(seeds, key=int)
    several = len(ordered) > 1
    dev = "| threshold | F1 | candidates typed by stage 2 (%) |\n|---|---|---|\n" + "\n".join(
        f"| {key} | {percent(value['f1'])} | {percent(value['typed_again'])} |" for key, value in seeds[dev_seed]["dev"].items()
    )
    chosen = "Thresholds chosen: " + ", ".join(
        f"seed {s}: {seeds[s]['threshold']:g} ({percent(typed_again(seeds[s]))} % of validation candidates typed by stage 2)" for s in ordered
    )
    rows = [
        f"| {label} | " + " | ".join(f"{percent(seeds[s]['test'][system]['f1'])} ({percent(seeds[s]['test'][system]['unseen_f1'])})" for s in ordered)
        + (f" | {spread([seeds[s]['test'][system]['f1'] for s in ordered])} |" if several else " |")
        for system, label in labels.items()
    ]
    header = "| system | " + " | ".join(f"seed {s}" for s in ordered) + (" | mean ± sd |" if several else " |")
    test = header + "\n|" + "---|" * (len(ordered) + 1 + several) + "\n" + "\n".join(rows + list(extra_rows))
    return dev, chosen, test
