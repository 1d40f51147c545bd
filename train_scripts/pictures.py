"""Draw the README's pictures with a trained checkpoint: the HTML rendering of a tweet's entities (and a
PNG screenshot of it by headless Chromium, when installed), ``render_image``'s PNG, and a screenshot of the
Gradio demo with the tweet typed in and submitted (``demo.png``; needs chromium-driver and selenium).

    python train_scripts/pictures.py runs/twitter2017-cpu-demo/scanner --output docs/images

The tweet images are not distributed with the data, so the PNG is drawn on a plain stand-in image; a
model that does not ground lists its entities in a band at the bottom.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

from PIL import Image
from transformers import pipeline

import scanner_hf  # noqa: F401  (registers "scanner-ner")
from scanner_hf.visualize import render_html, render_image

TEXT = "RT @nba : Steve Kerr and the Warriors celebrate in Oakland after beating the Cleveland Cavaliers"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--output", default="docs/images")
    parser.add_argument("--text", default=TEXT)
    arguments = parser.parse_args()
    output = Path(arguments.output)
    output.mkdir(parents=True, exist_ok=True)
    ner = pipeline("scanner-ner", model=arguments.model)
    entities = ner(arguments.text)
    print(json.dumps(entities, indent=1))
    html = output / "entities.html"
    html.write_text(render_html(arguments.text, entities))
    render_image(Image.new("RGB", (480, 270), "lightsteelblue"), entities).save(output / "entities.png")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print(f"wrote {html} and {output / 'entities.png'}; no chromium for the HTML screenshot")
        return
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--screenshot={output / 'entities-html.png'}",
                    "--window-size=900,160", html.resolve().as_uri()], check=True, capture_output=True)
    print(f"wrote {html}, {output / 'entities-html.png'} and {output / 'entities.png'}")
    if shutil.which("chromedriver"):
        demo_screenshot(ner, arguments.text, output / "demo.png", browser, shutil.which("chromedriver"))
        print(f"wrote {output / 'demo.png'}")


def demo_screenshot(ner, text: str, target: Path, browser: str, driver_path: str) -> None:
    """The demo page after ``text`` was submitted, as a PNG."""
    import socket

    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from scanner_hf.gradio_app import build_demo

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    demo = build_demo(ner)
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1100,1200", "--hide-scrollbars"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver_path), options=options)
    try:
        driver.get(f"http://127.0.0.1:{port}")
        WebDriverWait(driver, 60).until(lambda page: page.find_elements(By.CSS_SELECTOR, "#text textarea"))[0].send_keys(text)
        driver.find_element(By.CSS_SELECTOR, "#submit").click()
        WebDriverWait(driver, 60).until(lambda page: page.find_elements(By.CSS_SELECTOR, "#entities .token.highlighted"))
        driver.save_screenshot(str(target))
    finally:
        driver.quit()
        demo.close()


if __name__ == "__main__":
    main()
