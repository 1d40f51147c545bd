"""A saved checkpoint in a fresh virtual environment that has only torch, transformers and pillow (and
what they require): no scanner-hf, datasets, seqeval or accelerate. The environment is a new venv whose
site-packages sees exactly those distributions (links to the installed files, so no download)."""

import importlib.metadata
import json
import os
import re
import subprocess
import venv

from conftest import composite

from scanner_hf import ScannerNERPipeline


def required_distributions(*names: str) -> dict[str, importlib.metadata.Distribution]:
    """The named distributions and everything they require (extras excluded), as installed here."""
    found: dict[str, importlib.metadata.Distribution] = {}
    pending = list(names)
    while pending:
        name = pending.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # an optional platform requirement that is not installed here
        found[key] = distribution
        pending += [re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0] for requirement in distribution.requires or [] if "extra ==" not in requirement]
    return found


def fresh_environment(root, *names: str):
    """A venv at ``root`` whose imports see only ``names`` and their requirements; returns its python."""
    venv.EnvBuilder(with_pip=False).create(root)
    allowed = root / "allowed"
    allowed.mkdir()
    for distribution in required_distributions(*names).values():
        base = distribution.locate_file("")
        for top in {str(path).split("/")[0] for path in distribution.files or [] if not str(path).startswith("..")}:
            link = allowed / top
            if not link.exists() and (base / top).exists():
                link.symlink_to(base / top)
    [site_packages] = list((root / "lib").glob("python*/site-packages"))
    (site_packages / "allowed.pth").write_text(str(allowed) + "\n")
    return root / "bin" / "python"


SCRIPT = """
import importlib.util, sys
missing = [name for name in ("scanner_hf", "datasets", "seqeval", "accelerate") if importlib.util.find_spec(name)]
assert not missing, f"importable here: {missing}"
from transformers import pipeline
ner = pipeline("scanner-ner", model=sys.argv[1], trust_remote_code=True)
print([(r["word"], r["entity_group"]) for r in ner("Steve Kerr in Paris")])
try:
    ner.model.predict("Steve Kerr in Paris")
except RuntimeError as error:
    print("model.predict:", error)
"""


def test_checkpoint_runs_with_only_torch_transformers_and_pillow(tmp_path, tiny_tokenizer, tiny_encoder_config):
    model, tokenizer = composite(tiny_tokenizer, tiny_encoder_config)
    model.config.knowledge = {"wikipedia": ["ovos", "geonames"]}  # knowledge only the package can build
    folder = tmp_path / "checkpoint"
    ScannerNERPipeline(model=model, tokenizer=tokenizer, providers=[]).save_pretrained(folder)
    assert json.loads((folder / "config.json").read_text())["knowledge"]
    python = fresh_environment(tmp_path / "env", "torch", "transformers", "pillow")
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"), OMP_NUM_THREADS="1")
    completed = subprocess.run([str(python), "-c", SCRIPT, str(folder)], capture_output=True, text=True, env=env,
                               cwd=tmp_path, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "('Steve', 'LOC')" in completed.stdout or "('Steve Kerr', 'LOC')" in completed.stdout, completed.stdout
    # modeling imports no inference code, so model.predict without the package says to use the pipeline
    assert "use pipeline('scanner-ner', model=..., trust_remote_code=True)" in completed.stdout
    # one warning naming what is off and how to turn it on
    assert completed.stderr.count("is built by the scanner-hf package, which is not installed here") == 1
