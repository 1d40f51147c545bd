from PIL import Image

from scanner_hf.visualize import colour_for, render_html, render_image

ENTITIES = [
    {"entity_group": "PER", "score": 0.97, "word": "Steve <Kerr>", "start": 0, "end": 12, "box": [10, 10, 60, 80], "box_score": 0.8},
    {"entity_group": "LOC", "score": 0.8, "word": "Oakland", "start": 16, "end": 23, "box": None, "box_score": 0.1},
]


def test_html_marks_entities_and_escapes_text():
    page = render_html("Steve <Kerr> in Oakland & more", ENTITIES)
    assert "Steve &lt;Kerr&gt;" in page and "&amp; more" in page
    assert page.count("<mark") == 2 and ">PER</sup>" in page and ">LOC</sup>" in page


def test_image_has_boxes_in_the_label_colour():
    picture = render_image(Image.new("RGB", (200, 150), "white"), ENTITIES)
    red, green, blue = (int(colour_for("PER")[i : i + 2], 16) for i in (1, 3, 5))
    assert picture.getpixel((10, 50)) == (red, green, blue)  # left edge of the PER box
    assert picture.getpixel((35, 50)) == (255, 255, 255)  # inside stays untouched
    assert picture.getpixel((2, 148)) != (255, 255, 255)  # the "not in the image" note
