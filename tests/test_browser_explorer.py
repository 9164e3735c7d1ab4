"""The students' explorer page in a real browser: numbered keypoints, legends, panels that are not blank at rest.

Voila serves ``notebooks/apps/explorer.ipynb`` on 127.0.0.1 and Chromium
opens it at 1280x800. The keypoint picture the browser received must carry
each keypoint's number, as the menu lists them: it is compared, around each
number's place, with the same picture drawn here without numbers (the same
model and clip as :func:`fomm_nb.widgets.app_page.explorer_app`). The
panels have their legends, the "gaussians D − S" panel at rest is the faded
source (not black) and the "dense motion" panel is not a blank square. Then a
keypoint is dragged and the gaussians panel shows it in red and blue.
Screenshots: ``docs/explorer.png`` (and ``$FOMM_NB_ARTIFACTS``).

    .venv/bin/python -m pytest tests/test_browser_explorer.py -s
"""

import base64
import time
from io import BytesIO

import numpy as np
import pytest
from PIL import Image

from test_browser import (ARTIFACTS, NOTEBOOKS, ROOT, START_TIMEOUT, _browser, _console_errors, _open_app,
                          _render_url, _wait_until, voila_url)  # noqa: F401 (voila_url is a fixture)

PAGE = NOTEBOOKS / "apps" / "explorer.ipynb"
MAIN = "img.fomm-explorer-main"
GAUSSIANS = "gaussians D − S"
VIEWPORT = {"width": 1280, "height": 800}
NUMBER_LEVELS = 80  # a number's box differs from the unnumbered picture by this much somewhere (of 255)


FIND_IMAGE = """(target) => {
    if (target.selector) return document.querySelector(target.selector);
    const caption = [...document.querySelectorAll('.fomm-caption')].find(c => c.textContent.trim() === target.caption);
    return caption && caption.parentElement.querySelector('img');
}"""


def _image_of(page, **target):
    """The picture an ``<img>`` (``selector=`` or ``caption=``) shows, decoded from its source: ``(H, W, 3)`` float."""
    data = page.evaluate(f"""async (target) => {{
        const image = ({FIND_IMAGE})(target);
        const blob = await (await fetch(image.src)).blob();
        const bytes = new Uint8Array(await blob.arrayBuffer());
        let text = ""; for (const b of bytes) text += String.fromCharCode(b);
        return btoa(text);
    }}""", target)
    return np.asarray(Image.open(BytesIO(base64.b64decode(data))).convert("RGB"), np.float32)


def _app_keypoints():
    """The keypoints the explorer page starts with, and frame 0 drawn at its display size without them."""
    from fomm_nb.data import make_video
    from fomm_nb.hub import get_model
    from fomm_nb.plotting import render_keypoints_image
    from fomm_nb.widgets.app_page import EXPLORER_FRAMES
    from fomm_nb.widgets.common import prepare_engine

    model = get_model("demo", device="cpu")
    size = model.image_size
    source = make_video(seed=3, num_frames=1, size=size).frames[0]
    frame = make_video(seed=7, num_frames=EXPLORER_FRAMES, size=size).frames[0]
    kp = prepare_engine(model, source).detect(frame)
    return kp, lambda display: render_keypoints_image(
        render_keypoints_image(frame, np.zeros((0, 2)), size=display), kp["value"][0], kp["jacobian"][0])


def test_the_explorer_page_has_numbered_keypoints_legends_and_live_panels(voila_url, tmp_path):
    from fomm_nb.plotting import label_box, to_pixels

    kp, unnumbered = _app_keypoints()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    messages = []
    with _browser(tmp_path / "chromium-profile", messages) as page:
        page.set_viewport_size(VIEWPORT)
        main = _open_app(page, _render_url(voila_url, PAGE), MAIN, "explorer-page")
        page.wait_for_function(f"document.querySelector('{MAIN}').naturalWidth > 0", timeout=30_000)
        time.sleep(1.0)
        shown = _image_of(page, selector=MAIN)
        menu = page.locator(".fomm-explorer select").first.evaluate("menu => [...menu.options].map(o => o.text)")
        legends = page.locator(".fomm-explorer .fomm-legend").count()
        heatmaps_rest = _image_of(page, caption=GAUSSIANS)
        flow_rest = _image_of(page, caption="dense motion")
        (ARTIFACTS / "explorer-page.png").write_bytes(page.screenshot())
        docs = ROOT / "docs"
        docs.mkdir(exist_ok=True)
        (docs / "explorer.png").write_bytes(page.screenshot())

        box, display = main.bounding_box(), shown.shape[1]
        point = to_pixels(kp["value"][0, 0], display)
        x = float(box["x"] + (point[0] + 0.5) * box["width"] / display)
        y = float(box["y"] + (point[1] + 0.5) * box["height"] / display)
        page.mouse.move(x, y)
        page.mouse.down()
        for step in range(1, 9):
            page.mouse.move(x + 6 * step, y + 3 * step)
            page.wait_for_timeout(60)
        page.mouse.up()
        _wait_until(lambda: np.abs(_image_of(page, caption=GAUSSIANS) - heatmaps_rest).max() > 60, 30,
                    "the gaussians panel to show the drag")
        time.sleep(0.5)
        heatmaps_moved = _image_of(page, caption=GAUSSIANS)
        (ARTIFACTS / "explorer-page-dragged.png").write_bytes(page.screenshot())
    errors = _console_errors(messages)

    assert menu == ["none"] + [str(k) for k in range(kp["value"].shape[1])]
    reference = unnumbered(display).astype(np.float32)
    for k, point in enumerate(to_pixels(kp["value"][0], display)):
        left, top, right, bottom = label_box(point, display)
        difference = np.abs(shown[top:bottom, left:right] - reference[top:bottom, left:right]).max()
        assert difference > NUMBER_LEVELS, f"keypoint {k} has no number beside it in the page's picture"
    assert legends >= 5, f"{legends} legends on the page"
    assert heatmaps_rest.mean() > 150, "the gaussians panel is dark at rest"
    assert flow_rest.mean(-1).std() > 3, "the dense motion panel is a blank square at rest"
    reds = (heatmaps_moved[..., 0] - heatmaps_moved[..., 2] > 25).sum()  # RdBu's ends are dark: (102, 0, 31) and
    blues = (heatmaps_moved[..., 2] - heatmaps_moved[..., 0] > 25).sum()  # (5, 48, 97), over a grey source
    assert reds > 0 and blues > 0, f"after a drag the gaussians panel shows no red and blue (console: {errors[-5:]})"
