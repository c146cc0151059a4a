"""viewer.html and the search page in a real headless browser (Debian's chromium, driven by
playwright with ``executable_path``; nothing is downloaded).

Without a browser these tests skip with the reason, except when ``DRAQ_REQUIRE_BROWSER=1`` (CI sets
it after installing chromium): then they fail. ``DRAQ_SCREENSHOTS=DIR`` keeps the screenshots.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from draqcore.cli import main

TOLERANCE_S = 0.1

# Samples [A.currentTime, B.currentTime, map(A.currentTime), ms since start] every 50 ms for `ms`.
SAMPLE_JS = """
async ([selector, ms]) => {
  const root = selector ? document.querySelector(selector) : document.body;
  const a = root.querySelector('video.draq-a'), b = root.querySelector('video.draq-b');
  const map = root.draqSync.map;
  const out = [];
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    out.push([a.currentTime, b.currentTime, map(a.currentTime), performance.now() - t0]);
    await new Promise(r => setTimeout(r, 50));
  }
  return out;
}
"""


def _chromium() -> str:
    for name in (os.environ.get("DRAQ_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return ""


@pytest.fixture(scope="module")
def browser():
    required = os.environ.get("DRAQ_REQUIRE_BROWSER") == "1"
    exe = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        exe, reason = "", "playwright is not installed (pip install '.[test]')"
    else:
        reason = "no chromium found (Debian/Ubuntu: apt-get install chromium; or set DRAQ_CHROMIUM)"
    if not exe:
        if required:
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--autoplay-policy=no-user-gesture-required", "--mute-audio"])
        yield b
        b.close()


def _screenshot(page, name: str, tmp_path: Path) -> np.ndarray:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    keep = os.environ.get("DRAQ_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / name)
    image = cv2.imread(str(path))
    assert image is not None
    return image


def _region_has_picture(image: np.ndarray, box: dict) -> bool:
    x, y, w, h = (int(round(box[k])) for k in ("x", "y", "width", "height"))
    crop = image[y : y + h, x : x + w]
    return crop.size > 0 and float(crop.std()) > 15.0


def _check_sync(page, selector: str = "", ms: int = 3000) -> np.ndarray:
    samples = page.evaluate(SAMPLE_JS, [selector, ms])
    arr = np.array(samples, dtype=float)
    err = np.abs(arr[:, 1] - arr[:, 2])
    gaps = np.diff(arr[:, 3], prepend=0.0)
    worst = int(np.argmax(err))
    assert err.max() <= TOLERANCE_S, (
        f"B off the map by {err.max():.3f} s (median {np.median(err):.3f} s) at sample {worst}, "
        f"{gaps[worst]:.0f} ms after the previous one; gaps: max {gaps.max():.0f} ms, median {np.median(gaps):.0f} ms"
    )
    return arr


def _wait_ready(page, selector: str = "") -> None:
    page.wait_for_function(
        "(sel) => { const r = sel ? document.querySelector(sel) : document.body;"
        " return [...r.querySelectorAll('video')].every(v => v.readyState >= 3 && !v.error); }",
        arg=selector,
        timeout=30000,
    )


def _play_seek_rate(page, selector: str = "", *, seek_to: float, rate_from: float) -> None:
    q = f"document.querySelector({selector!r})" if selector else "document.body"
    a = f"{q}.querySelector('video.draq-a')"
    page.evaluate(f"{a}.play()")
    played = _check_sync(page, selector, 3000)
    assert played[-1, 0] - played[0, 0] > 2.0  # A really played
    assert played[-1, 1] - played[0, 1] > 0.5  # ... and B moved with it
    page.evaluate(f"{a}.currentTime = {seek_to}")  # seek while playing
    after_seek = _check_sync(page, selector, 1500)
    assert after_seek[0, 0] >= seek_to - 0.05 and after_seek[-1, 0] > seek_to + 0.5
    page.evaluate(f"{a}.currentTime = {rate_from}; {a}.playbackRate = 1.5")
    fast = _check_sync(page, selector, 2000)
    span = fast[-1, 0] - fast[0, 0]
    assert 2.0 < span <= 3.5, span  # about 1.5 times the wall-clock time
    page.evaluate(f"{a}.pause()")
    page.wait_for_timeout(300)
    paused = _check_sync(page, selector, 500)
    assert np.ptp(paused[:, 0]) == 0.0 and np.ptp(paused[:, 1]) == 0.0


def test_viewer_plays_b_in_sync_with_a(browser, long_pair, tmp_path):
    a, b = long_pair
    out = tmp_path / "aligned"
    assert main(["align", str(a), str(b), "--out", str(out), "--quiet"]) == 0
    html = out / "viewer.html"
    # Self-contained: no network URLs; B (Motion-JPEG AVI) got a browser-playable copy.
    text = html.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text
    data = json.loads(text.split('id="draq-data">', 1)[1].split("</script>", 1)[0])
    assert data["b"]["src"].startswith("media/") and data["b"]["src"].endswith(".mp4")
    assert not data["a"]["src"].startswith("media/")  # the H.264 original is linked as it is
    assert (out / data["b"]["src"]).is_file()

    page = browser.new_page(viewport={"width": 1100, "height": 900})
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(html.as_uri())
    _wait_ready(page)
    assert page.evaluate("document.getElementById('video-a').duration") == pytest.approx(8.0, abs=0.1)
    assert page.evaluate("document.getElementById('video-b').duration") == pytest.approx(7.0, abs=0.1)
    assert "DRAQ" in page.inner_text("#scores") and "street_b.avi" in page.inner_text("body")
    assert page.evaluate("document.querySelector('#plot img').naturalWidth") > 0
    _play_seek_rate(page, seek_to=1.5, rate_from=4.5)
    page.evaluate("document.getElementById('video-a').currentTime = 2.2")
    page.wait_for_timeout(800)
    image = _screenshot(page, "viewer.png", tmp_path)
    assert float(image.std()) > 20.0
    assert _region_has_picture(image, page.locator("#video-a").bounding_box())
    assert _region_has_picture(image, page.locator("#video-b").bounding_box())
    assert all(u.startswith("file://") or u.startswith("data:") for u in requests), requests
    page.close()
