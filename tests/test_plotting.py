"""Plot helpers: the right artists in the right places, pixels where the convention puts them."""

import base64
import io
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.collections import PathCollection
from matplotlib.patches import Polygon
from PIL import Image, ImageSequence

from fomm_nb import InputError, face
from fomm_nb.geometry import make_coordinate_grid
from fomm_nb.plotting import (
    BACKGROUND_COLOUR,
    flow_image,
    jacobian_outlines,
    keypoint_colours,
    keypoint_figure,
    mask_image,
    plot_flow,
    plot_frames,
    plot_heatmaps,
    plot_keypoints,
    plot_masks,
    plot_crop,
    plot_occlusion,
    plot_sparse_deformed,
    render_keypoints_image,
    tile,
    to_pixels,
    video_bytes,
    video_html,
)

K = 5
CHROMIUM = Path(os.environ.get("FOMM_NB_CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture
def kp():
    generator = torch.Generator().manual_seed(0)
    value = torch.rand(1, K, 2, generator=generator) * 1.6 - 0.8
    jacobian = torch.eye(2) + 0.3 * torch.randn(1, K, 2, 2, generator=generator)
    return value, jacobian


def test_pixel_convention_puts_the_corners_on_the_corner_pixels():
    assert to_pixels(np.array([[-1.0, -1.0], [1.0, 1.0]]), 64).tolist() == [[0.0, 0.0], [63.0, 63.0]]
    assert to_pixels(np.array([[1.0, 1.0]]), (32, 64)).tolist() == [[63.0, 31.0]]


def test_glyphs_show_the_jacobian_as_a_linear_map():
    rotate = np.array([[[0.0, -1.0], [1.0, 0.0]]])  # 90 degrees: the x axis turns to +y (down)
    outline, hand = jacobian_outlines(np.zeros((1, 2)), rotate, 65, radius=0.5, points=4)
    assert hand[0].tolist() == pytest.approx([32.0, 48.0])
    stretch = np.array([[[2.0, 0.0], [0.0, 1.0]]])
    outline, _ = jacobian_outlines(np.zeros((1, 2)), stretch, 65, radius=0.5, points=4)
    assert outline[0, 0].tolist() == pytest.approx([64.0, 32.0])  # the circle's right point, twice as far


def test_plot_keypoints_draws_one_marker_and_one_glyph_per_keypoint(kp):
    value, jacobian = kp
    figure = plot_keypoints(torch.rand(1, 3, 32, 32), value, jacobian)
    ax = figure.axes[0]
    markers = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(markers) == 1 and len(markers[0].get_offsets()) == K
    assert np.allclose(markers[0].get_offsets(), to_pixels(value[0], 32))
    assert sum(isinstance(p, Polygon) for p in ax.patches) == K
    assert len(ax.lines) == K  # the hands
    assert len(plot_keypoints(np.zeros((32, 32, 3)), value).axes[0].patches) == 0


def test_keypoint_figure_has_a_panel_per_image(kp):
    value, jacobian = kp
    images = [np.zeros((32, 32, 3))] * 3
    figure = keypoint_figure(images, value.expand(3, K, 2), jacobian.expand(3, K, 2, 2), titles="abc")
    assert [ax.get_title() for ax in figure.axes] == ["a", "b", "c"]


def test_render_keypoints_image_draws_at_the_keypoint_pixel():
    image = np.zeros((64, 64, 3), np.float32)
    kp = np.array([[-1 + 2 * 10 / 63, -1 + 2 * 40 / 63]])  # pixel (x=10, y=40)
    picture = render_keypoints_image(image, kp)
    assert picture.dtype == np.uint8 and picture.shape == (64, 64, 3)
    colour = (keypoint_colours(1)[0] * 255).round()
    assert np.allclose(picture[40, 10], colour, atol=1)
    assert picture[10, 40].max() == 0
    big = render_keypoints_image(image, kp, size=256)
    assert big.shape == (256, 256, 3) and np.allclose(big[160, 40], colour, atol=1)  # 40 * 255/63 = 161.9


def test_render_keypoints_image_adds_glyphs_and_a_selection_ring(kp):
    value, jacobian = kp
    image = np.zeros((128, 128, 3), np.float32)
    plain = render_keypoints_image(image, value)
    glyphs = render_keypoints_image(image, value, jacobian)
    ringed = render_keypoints_image(image, value, selected=2)
    assert (glyphs.sum(-1) > 0).sum() > (plain.sum(-1) > 0).sum()
    assert (ringed == 255).all(-1).sum() > 0 and (plain == 255).all(-1).sum() == 0


def test_mask_image_colours_each_motion_like_its_keypoint():
    mask = torch.zeros(K + 1, 4, 4)
    mask[0, :, :2] = 1
    mask[3, :, 2:] = 1
    picture = mask_image(mask[None])
    assert np.allclose(picture[0, 0], BACKGROUND_COLOUR)
    assert np.allclose(picture[0, 3], keypoint_colours(K)[2])


def test_flow_image_is_white_without_motion_and_coloured_with_it():
    grid = make_coordinate_grid((8, 8)).numpy()
    assert np.allclose(flow_image(grid), 1, atol=1e-2)
    shifted = grid + np.array([0.5, 0.0], np.float32)
    assert flow_image(shifted).min() < 0.5


def test_tile_lays_images_out_in_a_framed_grid():
    images = np.stack([np.full((2, 2, 3), i / 4, np.float32) for i in range(3)])
    grid = tile(images, columns=2, border=1, border_colours=np.eye(3))
    assert grid.shape == (8, 8, 3)
    assert np.allclose(grid[5, 2], 2 / 4) and np.allclose(grid[4, 0], [0, 0, 1])


def test_panel_figures_have_one_panel_per_motion_background_first(kp):
    value, _ = kp
    sparse = plot_sparse_deformed(torch.rand(1, K + 1, 3, 8, 8), value)
    titles = [ax.get_title() for ax in sparse.axes if ax.get_title()]
    assert titles == ["background"] + [f"keypoint {k}" for k in range(K)]
    assert sum(len(ax.collections) for ax in sparse.axes) == K  # each keypoint marked on its panel
    heat = plot_heatmaps(torch.rand(K + 1, 8, 8) - 0.5, background_first=True)
    assert [ax.get_title() for ax in heat.axes if ax.get_title()][0] == "background"
    masks = plot_masks(torch.softmax(torch.rand(K + 1, 8, 8), 0), per_keypoint=True)
    assert len([ax for ax in masks.axes if ax.images]) == K + 1


def test_single_picture_figures(kp):
    masks = plot_masks(torch.softmax(torch.rand(K + 1, 8, 8), 0), image=np.zeros((32, 32, 3)))
    assert masks.axes[0].images[0].get_array().shape == (32, 32, 3)
    flow = plot_flow(make_coordinate_grid((16, 16)) + 0.1, image=np.zeros((64, 64, 3)))
    assert len(flow.axes[0].collections) == 1  # the quiver
    assert flow.axes[1].images[0].get_array().shape == (16, 16, 3)
    occlusion = plot_occlusion(torch.rand(1, 1, 8, 8))
    assert occlusion.axes[0].images[0].get_array().shape == (8, 8)
    frames = plot_frames([np.zeros((8, 8, 3)), torch.rand(3, 8, 8)], ["a", "b"])
    assert [ax.get_title() for ax in frames.axes] == ["a", "b"]


def test_drawing_into_a_given_axes(kp):
    figure = plot_frames([np.zeros((8, 8, 3))] * 2)
    assert plot_keypoints(np.zeros((8, 8, 3)), kp[0], ax=figure.axes[1]) is figure
    assert len(figure.axes[1].collections) == 1


def test_bad_shapes_say_what_was_expected():
    with pytest.raises(InputError, match="kp must have 2 dimensions"):
        render_keypoints_image(np.zeros((8, 8, 3)), np.zeros((2, 3, 2)))


def test_videos_encode_and_play_in_step():
    video = np.random.default_rng(0).random((3, 32, 32, 3)).astype(np.float32)
    assert video_bytes(video, fps=5, format="gif")[:3] == b"GIF"
    mp4 = video_bytes([video, video[:2]], fps=5)
    assert mp4[4:8] == b"ftyp"
    html = video_html([video, video], fps=5).data
    assert html.startswith("<video") and "base64," in html
    assert video_html(video, format="gif").data.startswith("<img")
    with pytest.raises(InputError, match="mp4' or 'gif"):
        video_bytes(video, format="avi")


def _gif_of(html):
    """The frames of the GIF inside ``html`` (a ``data:`` URL), as (T, H, W, 3) uint8."""
    data = base64.b64decode(re.search(r"base64,([^\"]+)", html).group(1))
    with Image.open(io.BytesIO(data)) as gif:
        return np.stack([np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(gif)])


def test_video_labels_are_html_captions_not_pixels():
    driving = np.zeros((3, 32, 32, 3), np.float32)
    result = np.ones((3, 32, 64, 3), np.float32)
    html = video_html([driving, result], format="gif", labels=["driving", "result <b>"]).data
    assert html.startswith("<figure") and "grid-template-columns:32fr 64fr" in html
    assert "<span>driving</span><span>result &lt;b&gt;</span>" in html  # escaped, in panel order
    frames = _gif_of(html)
    assert frames.shape == (3, 32, 96, 3)  # no strip of burned text above the panels
    assert frames[:, :, :32].max() < 10 and frames[:, :, 32:].min() > 245
    burned = video_bytes([driving, result], format="gif", labels=["driving", "result"])
    with Image.open(io.BytesIO(burned)) as gif:
        assert gif.size[1] > 32  # a file that travels alone keeps its labels in the pixels
    with pytest.raises(InputError, match="1 labels for 2 videos"):
        video_html([driving, result], labels=["driving"])


def test_video_html_sizes_and_tensor_videos():
    small = torch.rand(3, 3, 16, 24)  # (T, C, H, W) tensor: converted by fomm_nb.media.tensor_to_frames
    html = video_html(small, format="gif", scale=4).data
    assert 'width="96" height="64"' in html and "image-rendering:pixelated" in html
    assert _gif_of(html).shape == (3, 16, 24, 3)
    natural = video_html(small, format="gif").data
    assert 'width="24" height="16"' in natural and "pixelated" not in natural
    assert 'width="600" height="400"' in video_html(small, width=600).data


def test_captions_sit_above_their_panels_in_chromium():
    """Laid out by a real browser: each caption is centred over its panel, above it, at any shown width."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (install it with: bash scripts/install-system.sh)")
    from playwright.sync_api import sync_playwright

    videos = [np.zeros((2, 32, 32, 3)), np.zeros((2, 64, 64, 3)), np.zeros((2, 32, 16, 3))]  # panels 64, 64, 32 wide
    html = video_html(videos, format="gif", labels=["source", "driving", "result"], width=480).data
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.set_content(f"<body style='margin:0'>{html}</body>")
            picture = page.locator("img").bounding_box()
            captions = [page.locator("span").nth(i).bounding_box() for i in range(3)]
        finally:
            browser.close()
    assert (picture["width"], picture["height"]) == (480, 192)
    edges = np.cumsum([0, 64, 64, 32]) * 480 / 160  # the panels' edges on the page
    for caption, left, right in zip(captions, edges[:-1], edges[1:]):
        assert caption["x"] == pytest.approx(left, abs=1)
        assert caption["x"] + caption["width"] == pytest.approx(right, abs=1)
        assert caption["y"] + caption["height"] <= picture["y"] + 0.5


def test_plot_crop_draws_the_boxes_on_the_pixel_borders():
    photo = np.full((40, 60, 3), 255, np.uint8)  # uint8 photos are shown as they are, not clipped to 0/1
    ax = plot_crop(photo, (10, 5, 30, 25), face=(12, 8, 28, 22))
    crop, face_box = ax.patches
    assert (crop.get_x(), crop.get_y(), crop.get_width()) == (9.5, 4.5, 20) and crop.get_label() == "crop"
    assert face_box.get_linestyle() == "--" and face_box.get_label() == "face"
    assert ax.images[0].get_array().min() == 1.0
    assert face.plot_crop is plot_crop  # the name it had in fomm_nb.face still works
