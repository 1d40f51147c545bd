"""A Hugging Face Space for a SCANNER checkpoint: set the Space variable SCANNER_MODEL to a Hub id (or
a folder in the Space). The page is scanner_hf.gradio_app's: entities highlighted, boxes for a grounding
model, and the knowledge behind each entity."""

import os

from scanner_hf.gradio_app import build_demo
from scanner_hf.serving import load_pipeline

demo = build_demo(load_pipeline(os.environ.get("SCANNER_MODEL", "some-org/scanner-twitter2017")))

if __name__ == "__main__":
    demo.launch()
