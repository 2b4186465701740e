"""The nerfstudio web viewer in a real browser: `ns-viewer` on a trained tiny model, driven by headless Chromium.

The test selects the ``panoptic`` output in the viewer's "Output type" dropdown and checks the pixels of the
viewport: most of them must take colors of the scene's class table or of the model's 3D instance palette, while
the ``rgb`` view of the same camera must not. So it fails if our outputs are missing from the dropdown, if the
selection does not reach the server, or if no panoptic frame arrives in the page.
"""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from playwright.sync_api import Locator, Page, expect, sync_playwright

from panoptic_nerfstudio.data.panoptic_format import read_classes
from panoptic_nerfstudio.utils.panoptic_colors import instance_palette
from tests.browser import CHROMIUM, CHROMIUM_FLAGS, ensure_chromium
from tests.console_scripts import BIN

pytestmark = pytest.mark.slow

OUR_OUTPUTS = ("panoptic", "semantics_colormap", "instance_colormap")
"""Outputs of our model that must be offered in the viewer's "Output type" dropdown."""
CUSTOM_ELEMENTS = ("Identify on click", "Under cursor", "Instance colors", "Show stuff", "Show things")
"""Labels of the GUI elements our model adds to the viewer's "Custom Elements" panel."""

MAX_RES = 64
"""Viewer render resolution (its "Max res" slider minimum): CPU renders of the full viewport take tens of seconds."""
COLOR_TOLERANCE = 12
"""Per-channel distance (0-255) at which a screen pixel counts as a palette color: PNG frames arrive unchanged,
only texture filtering at segment edges and the dark segment boundaries depart from the palette."""
MIN_PANOPTIC_FRACTION = 0.5
"""Share of viewport pixels in palette colors for the panoptic view. The 40-step model renders a few large
segments (about 95% of the viewport pixels are palette colors); boundaries and the axes gizmo take the rest."""
MAX_RGB_FRACTION = 0.2
"""The rgb view of the same camera must stay below this, or the comparison could not tell the outputs apart."""
MIN_MEAN_DIFFERENCE = 20.0
"""Mean absolute difference (0-255) between the rgb and the panoptic screenshots."""
FRAME_TIMEOUT_S = 120.0


@dataclass
class Viewport:
    """The part of the page where the 3D canvas is visible (the GUI panel covers the canvas's right side)."""

    x: float
    y: float
    width: float
    height: float

    def screenshot(self, page: Page, path: Path | None = None) -> np.ndarray:
        png = page.screenshot(clip={"x": self.x, "y": self.y, "width": self.width, "height": self.height})
        if path is not None:
            path.write_bytes(png)
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


@pytest.fixture(scope="module")
def chromium() -> Path:
    reason = ensure_chromium()
    if reason is not None:
        pytest.skip(f"Chromium is needed for the viewer browser test and could not be installed: {reason}")
    return CHROMIUM


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def viewer_url(tiny_trained_config: Path, tmp_path: Path) -> Iterator[str]:
    """`ns-viewer` on the tiny model, bound to 127.0.0.1; killed with its process group at the end."""
    port = free_port()
    log_path = tmp_path / "ns-viewer.log"
    command = [
        str(BIN / "ns-viewer"), "--load-config", str(tiny_trained_config),
        "--viewer.websocket-host", "127.0.0.1", "--viewer.websocket-port", str(port),
        "--viewer.image-format", "png",  # lossless frames: the pixel check compares exact palette colors
    ]
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                pytest.fail(f"ns-viewer exited with status {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"ns-viewer did not serve {url} in time:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(process.pid, sig)
                process.wait(timeout=wait)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue


def palette(scene: Path, config: Path) -> np.ndarray:
    """[N, 3] colors the panoptic output can show: the class table's and the model's instance colors."""
    classes = read_classes(scene / "panoptic_classes.json")
    trainer = yaml.load(config.read_text(), Loader=yaml.Loader)
    slots = trainer.pipeline.model.num_instance_slots
    instances = instance_palette(torch.arange(1, slots + 1)).numpy() * 255.0
    return np.concatenate([classes.colors.astype(np.float64), instances])


def palette_fraction(image: np.ndarray, colors: np.ndarray) -> float:
    """Share of pixels within COLOR_TOLERANCE (every channel) of some palette color."""
    pixels = image.reshape(-1, 1, 3).astype(np.float64)
    distance = np.abs(pixels - colors[None]).max(axis=-1).min(axis=-1)
    return float((distance <= COLOR_TOLERANCE).mean())


def rendered_resolution(page: Page) -> tuple[int, int] | None:
    """The "Resolution: WxHpx" of the viewer's last frame, as its stats panel shows it."""
    match = re.search(r"Resolution:\s*(\d+)\s*[x×]\s*(\d+)\s*px", page.inner_text("body"))
    return (int(match.group(1)), int(match.group(2))) if match else None


def wait_for_frame_at_max_res(page: Page) -> None:
    """Wait until a frame rendered with Max res = MAX_RES has arrived (its longer side is MAX_RES)."""
    deadline = time.monotonic() + FRAME_TIMEOUT_S
    while (resolution := rendered_resolution(page)) is None or max(resolution) != MAX_RES:
        assert time.monotonic() < deadline, f"no {MAX_RES}px frame from the viewer (last: {resolution})"
        time.sleep(0.25)
    time.sleep(1.0)  # the frame's texture is drawn on the next animation frame


def visible_viewport(page: Page) -> Viewport:
    """The canvas rectangle left of the GUI panel: walk right along the middle row while a canvas is on top (viser
    stacks an overlay canvas, which ignores the pointer, over three.js's)."""
    box = page.evaluate(
        """() => {
            const canvases = [...document.querySelectorAll('canvas')];
            const r = canvases[0].getBoundingClientRect();
            const y = r.top + r.height / 2;
            const onCanvas = (x) => canvases.includes(document.elementFromPoint(x, y));
            let right = r.left + 1;
            while (right < r.right && onCanvas(right)) right += 1;
            return {x: r.left, y: r.top, width: right - r.left - 1, height: r.height};
        }"""
    )
    assert box["width"] > 100 and box["height"] > 100, f"the 3D canvas is hardly visible: {box}"
    return Viewport(**box)


def labelled(page: Page, label: str) -> Locator:
    """The GUI element a viser <label for=...> names (sliders are divs, which Playwright's get_by_label skips)."""
    element_id = page.locator("label").filter(has_text=re.compile(f"^{re.escape(label)}$")).first.get_attribute("for")
    return page.locator(f'[id="{element_id}"]')


def select_dropdown(page: Page, label: str, option: str) -> None:
    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
    value = page.get_by_label(label, exact=True).input_value()
    assert value == option, f"{label} shows {value!r} after selecting {option!r}"


def test_viewer_shows_panoptic_output_in_chromium(
    chromium, viewer_url, tiny_scene_master, tiny_trained_config, tmp_path
):
    colors = palette(tiny_scene_master, tiny_trained_config)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh --user-data-dir
            executable_path=str(chromium),
            args=list(CHROMIUM_FLAGS),
            headless=True,
            viewport={"width": 800, "height": 560},
        )
        try:
            # The viewer page loads analytics from the internet: only the viewer itself may answer.
            context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(viewer_url)
                          else route.abort())
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(FRAME_TIMEOUT_S * 1000)
            page.goto(viewer_url)
            page.get_by_label("Output type", exact=True).wait_for(state="visible")
            page.locator("canvas").first.wait_for(state="visible")

            for name in ("Custom Elements", *CUSTOM_ELEMENTS):
                expect(page.get_by_text(name, exact=True).first, f"{name!r} is not shown").to_be_visible()

            # Smallest render resolution: the Home key moves the "Max res" slider to its minimum.
            labelled(page, "Max res").get_by_role("slider").press("Home")
            wait_for_frame_at_max_res(page)
            assert page.get_by_label("Output type", exact=True).input_value() == "rgb", "a fresh viewer shows rgb"
            viewport = visible_viewport(page)
            rgb = viewport.screenshot(page, tmp_path / "viewer_rgb.png")

            page.get_by_label("Output type", exact=True).click()
            for name in OUR_OUTPUTS:
                assert page.get_by_role("option", name=name, exact=True).count() == 1, f"{name} not offered"
            page.keyboard.press("Escape")
            select_dropdown(page, "Output type", "panoptic")

            panoptic_path = tmp_path / "viewer_panoptic.png"
            deadline = time.monotonic() + FRAME_TIMEOUT_S
            while True:
                panoptic = viewport.screenshot(page, panoptic_path)
                fraction = palette_fraction(panoptic, colors)
                if fraction >= MIN_PANOPTIC_FRACTION or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            page.screenshot(path=tmp_path / "viewer_page.png")
        finally:
            context.close()

    print(f"\nviewer screenshots: {panoptic_path} (panoptic), {tmp_path / 'viewer_rgb.png'} (rgb)")
    rgb_fraction = palette_fraction(rgb, colors)
    difference = float(np.abs(panoptic.astype(np.float64) - rgb.astype(np.float64)).mean())
    print(f"palette pixels: panoptic {fraction:.1%}, rgb {rgb_fraction:.1%}; mean difference {difference:.1f}")
    assert rgb_fraction <= MAX_RGB_FRACTION, f"the rgb view already has {rgb_fraction:.0%} palette pixels"
    assert fraction >= MIN_PANOPTIC_FRACTION, (
        f"only {fraction:.0%} of the viewport shows panoptic colors after selecting 'panoptic' ({panoptic_path})"
    )
    assert difference >= MIN_MEAN_DIFFERENCE, f"panoptic and rgb screenshots hardly differ ({difference:.1f})"
