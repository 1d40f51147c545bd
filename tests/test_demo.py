"""The Gradio demo in a real browser: headless Chromium from Debian (``apt-get install chromium
chromium-driver``; .ci/run installs them) driven by selenium types a tweet, submits it, and reads the
highlighted entities and the knowledge behind them off the page."""

import json
import shutil

import pytest
from conftest import free_port
from transformers import pipeline

import scanner_hf  # noqa: F401  registers the pipeline

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
needs_browser = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs chromium and chromium-driver (apt-get; .ci/run installs them)")


@pytest.fixture()
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1100"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER), options=options)
    yield driver
    driver.quit()


@needs_browser
def test_a_tweet_typed_in_the_browser_comes_back_highlighted_with_its_knowledge(saved, tmp_path, browser):
    from scanner_hf.gradio_app import build_demo
    from scanner_hf.knowledge.kb import KBKnowledge
    from scanner_hf.knowledge.kb_build import build_kb
    from scanner_hf.knowledge.kb_sources import KBRecord

    kb = tmp_path / "kb.sqlite"
    build_kb([KBRecord("Steve Kerr", description="American basketball coach", aliases=["kerr"], types=["person"])],
             kb, source="test")
    ner = pipeline("scanner-ner", model=str(saved), providers=[KBKnowledge(kb)])
    port = free_port()
    demo = build_demo(ner)
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        browser.get(f"http://127.0.0.1:{port}")
        wait = WebDriverWait(browser, 60)
        wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "#text textarea"))).send_keys(
            "fans meet steve kerr in paris")
        browser.find_element(By.CSS_SELECTOR, "#submit").click()
        highlighted = "#entities .token.highlighted .text"
        wait.until(lambda page: len(page.find_elements(By.CSS_SELECTOR, highlighted)) >= 3)
        words = [element.text for element in browser.find_elements(By.CSS_SELECTOR, highlighted)]
        expected = [entity["word"] for entity in ner("fans meet steve kerr in paris")]
        assert words == expected and "kerr" in words and "paris" in words
        legend = [element.text for element in browser.find_elements(By.CSS_SELECTOR, "#entities .legend-item")]
        assert legend == ["LOC"]
        knowledge = browser.find_element(By.CSS_SELECTOR, "#knowledge").text
        assert "Steve Kerr" in knowledge and "American basketball coach" in knowledge  # the KB entry behind "kerr"
        browser.save_screenshot(str(tmp_path / "demo.png"))
        assert (tmp_path / "demo.png").stat().st_size > 10_000
    finally:
        demo.close()
    assert json.dumps(ner("paris", return_knowledge=True))  # the pipeline still answers after the demo closed


def test_a_grounding_model_gets_its_boxes_drawn_and_blank_text_an_error():
    import gradio as gr
    from PIL import Image

    from scanner_hf.gradio_app import recognise

    def ner(inputs, return_knowledge=False):
        assert return_knowledge and inputs["image"] is image
        return [{"entity_group": "PER", "score": 0.9, "word": "Kerr", "start": 0, "end": 4, "box": [1.0, 2.0, 30.5, 40.0],
                 "box_score": 0.8, "knowledge": {"kb": [], "caption": "a man", "objects": [{"label": "person", "in_prompt": True}]}},
                {"entity_group": "LOC", "score": 0.7, "word": "Paris", "start": 8, "end": 13, "box": None, "box_score": 0.1}]

    image = Image.new("RGB", (50, 50))
    highlighted, boxes, rows = recognise(ner, "Kerr in Paris", image)
    assert highlighted["entities"] == [{"entity": "PER", "start": 0, "end": 4}, {"entity": "LOC", "start": 8, "end": 13}]
    assert boxes == (image, [((1, 2, 30, 40), "PER: Kerr")])  # an entity the model did not ground gets no box
    assert rows[0]["objects"] == ["person"] and rows[0]["caption"] == "a man"
    with pytest.raises(gr.Error):
        recognise(ner, "   ")
