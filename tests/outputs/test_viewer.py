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
STALL_MS = 150.0

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
    if name.endswith(".jpg"):
        page.screenshot(path=str(path), full_page=True, type="jpeg", quality=80)
    else:
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


class _PageStalled(AssertionError):
    """The sync was off while the page's own event loop had stalled (machine overloaded)."""


def _check_sync(page, selector: str = "", ms: int = 3000, phase: str = "") -> np.ndarray:
    samples = page.evaluate(SAMPLE_JS, [selector, ms])
    arr = np.array(samples, dtype=float)
    err = np.abs(arr[:, 1] - arr[:, 2])
    gaps = np.diff(arr[:, 3], prepend=0.0)
    worst = int(np.argmax(err))
    message = (
        f"{phase or 'paused'} {selector}: B off the map by {err.max():.3f} s (median {np.median(err):.3f} s) at sample {worst}, "
        f"{gaps[worst]:.0f} ms after the previous one; gaps: max {gaps.max():.0f} ms, median {np.median(gaps):.0f} ms; "
        f"A at {arr[worst, 0]:.2f} s"
    )
    if err.max() > TOLERANCE_S:
        # The sampler asks for a sample every 50 ms; when one comes more than STALL_MS late, no
        # script (the viewer's included) ran in the page meanwhile: the machine, not the
        # viewer, was measured. That phase may be repeated; an error without a stall fails.
        raise (_PageStalled if gaps.max() > STALL_MS else AssertionError)(message)
    return arr


def _phase(run, attempts: int = 3):
    """Run one measured phase; repeat it (at most ``attempts`` times) only after page stalls."""
    for attempt in range(attempts):
        try:
            return run()
        except _PageStalled:
            if attempt == attempts - 1:
                raise


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
    def play():
        page.evaluate(f"{a}.currentTime = 0; {a}.play()")
        return _check_sync(page, selector, 3000, "playing")

    played = _phase(play)
    assert played[-1, 0] - played[0, 0] > 2.0  # A really played
    assert played[-1, 1] - played[0, 1] > 0.5  # ... and B moved with it
    def seek():
        page.evaluate(f"{a}.currentTime = {seek_to}")  # seek while playing
        return _check_sync(page, selector, 1500, "after a seek")

    after_seek = _phase(seek)
    assert after_seek[0, 0] >= seek_to - 0.05 and after_seek[-1, 0] > seek_to + 0.5
    def faster():
        page.evaluate(f"{a}.currentTime = {rate_from}; {a}.playbackRate = 1.5")
        return _check_sync(page, selector, 2000, "at 1.5x")

    fast = _phase(faster)
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
    image = _screenshot(page, "viewer.jpg", tmp_path)
    assert float(image.std()) > 20.0
    assert _region_has_picture(image, page.locator("#video-a").bounding_box())
    assert _region_has_picture(image, page.locator("#video-b").bounding_box())
    assert all(u.startswith("file://") or u.startswith("data:") for u in requests), requests
    page.close()


def test_search_page_plays_each_hit_in_sync(browser, long_pair, warped_pair, footage, tmp_path, capsys):
    a, b = long_pair
    coll = tmp_path / "street.coll"
    videos = [str(b), str(warped_pair.b), str(footage("carphone"))]
    assert main(["index", *videos, "--collection", str(coll), "--quiet"]) == 0
    html_dir = tmp_path / "results"
    assert main(["search", str(a), "--collection", str(coll), "--top", "3", "--html", str(html_dir)]) == 0
    assert "results page" in capsys.readouterr().out
    page_path = html_dir / "index.html"
    text = page_path.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text
    data = json.loads(text.split('id="draq-data">', 1)[1].split("</script>", 1)[0])
    assert len(data["hits"]) == 3
    assert [h["rank"] for h in data["hits"]] == [1, 2, 3]
    assert all(data["hits"][i]["draq"] <= data["hits"][i + 1]["draq"] for i in range(2))
    street = next(h for h in data["hits"] if h["file"] == "street_b.avi")
    assert street["src"].startswith("media/")  # MJPEG AVI: a browser copy
    assert street["segment"][0] == pytest.approx(0.0, abs=0.2) and street["segment"][1] == pytest.approx(7.0, abs=0.2)

    page = browser.new_page(viewport={"width": 1100, "height": 1000})
    page.goto(page_path.as_uri())
    assert page.locator("#ranking tbody tr").count() == 3
    assert page.locator("section.hit").count() == 3
    selector = f"#hit-{street['rank']}"
    _wait_ready(page, selector)
    page.locator(selector).scroll_into_view_if_needed()
    _play_seek_rate(page, selector, seek_to=1.5, rate_from=4.5)
    page.evaluate(f"document.querySelector('{selector} video.draq-a').currentTime = 2.2")
    page.wait_for_timeout(800)
    page.evaluate("window.scrollTo(0, 0)")
    image = _screenshot(page, "search.jpg", tmp_path)
    assert float(image.std()) > 20.0
    first = page.locator("#hit-1 video.draq-a").bounding_box()
    page.close()
    assert first is not None


def test_search_page_without_video_files_for_hits(browser, long_pair, warped_alignment, tmp_path):
    """Hits that name no file (precomputed-feature collections) get a card without players."""
    import numpy as np

    from draqcore.collection import SearchHit
    from draqcore.outputs.search_page import write_search_page

    a, _ = long_pair
    hit = SearchHit(
        rank=1, path="clip0003", class_name="swing", similarity=0.5, dtw_cost=1.0, random_cost=2.0, draq=0.5,
        alignment=np.zeros(3, np.int64), query_times=np.arange(3) / 10, hit_times=np.arange(4) / 10, video_id=7,
    )
    page_path = write_search_page(a, [hit], tmp_path / "res")
    page = browser.new_page()
    page.goto(page_path.as_uri())
    assert "nothing to play" in page.inner_text("#hit-1")
    assert page.locator("#hit-1 video").count() == 0
    assert page.locator("#ranking tbody tr").count() == 1
    page.close()
