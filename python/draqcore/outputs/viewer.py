"""Static HTML pages that play two videos in sync: ``viewer.html`` for one alignment.

A page is one self-contained HTML file (its JavaScript and CSS inlined from the package data
files ``viewer.js`` and ``viewer.html``), with relative links to the videos and the cost-matrix
picture; it needs no network and no server (open it from disk). Videos a browser cannot play
(anything but H.264/AAC in MP4 or VP8/VP9/AV1 with Opus/Vorbis in WebM, image folders) get a
browser-playable H.264/AAC copy in ``media/`` next to the page.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import resources
from pathlib import Path
from typing import Optional, Union

from .timemap import TimeMap

__all__ = ["browser_playable", "media_link", "render_page", "write_viewer"]

PathLike = Union[str, "os.PathLike[str]"]

_MP4 = ({"h264"}, {"aac", "mp3", "mp3float"})  # FFmpeg names its MP3 decoder mp3float
_WEBM = ({"vp8", "vp9", "av1"}, {"opus", "vorbis"})


def browser_playable(path: PathLike) -> bool:
    """Whether current browsers play ``path`` as it is: H.264 (yuv420p) with AAC/MP3 or no audio
    in ``.mp4``/``.m4v``, or VP8/VP9/AV1 with Opus/Vorbis or no audio in ``.webm``."""
    import av

    p = Path(path)
    suffix = p.suffix.lower()
    if not p.is_file() or suffix not in (".mp4", ".m4v", ".webm"):
        return False
    try:
        with av.open(str(p)) as c:
            if not c.streams.video:
                return False
            v = c.streams.video[0].codec_context
            audio = {s.codec_context.name for s in c.streams.audio}
    except (av.error.FFmpegError, OSError):
        return False
    vcodecs, acodecs = _WEBM if suffix == ".webm" else _MP4
    return v.name in vcodecs and (v.pix_fmt in ("yuv420p", "yuvj420p", None)) and audio <= acodecs


def _browser_copy(path: Path, dest: Path, progress: bool) -> Path:
    from ..video import iter_sampled_frames, native_timeline
    from .media import VideoEncoder, average_rate, even_size, read_audio

    fps = average_rate(native_timeline(path))
    frames = iter_sampled_frames(path, None)
    if progress:
        from tqdm import tqdm

        frames = tqdm(frames, desc=f"browser copy of {path.name}", unit="frame", leave=False)
    encoder = None
    try:
        for frame in frames:
            h, w = frame.image.shape[:2]
            size = even_size(w, h)
            image = frame.image
            if (w, h) != size:
                import cv2

                image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            if encoder is None:
                encoder = VideoEncoder(dest, fps, size, audio=read_audio(path))
            encoder.write(image, time_s=frame.time)  # the copy keeps the original's frame times
    except BaseException:
        if encoder is not None:
            encoder.abort()
        raise
    assert encoder is not None  # iter_sampled_frames raises for a video without frames
    return encoder.close()


def media_link(path: PathLike, page_dir: PathLike, *, copy: bool = False, progress: bool = False) -> str:
    """A relative URL, from ``page_dir``, to a browser-playable version of ``path``.

    The file itself when :func:`browser_playable` (unless ``copy``), else an H.264/AAC copy
    ``media/<name>-<hash>.mp4`` in ``page_dir`` (made once, reused when it exists).
    """
    src = Path(path)
    page = Path(page_dir)
    if not copy and browser_playable(src):
        target = src
    else:
        key = hashlib.sha256(str(src.resolve()).encode("utf-8")).hexdigest()[:10]
        target = page / "media" / f"{src.stem}-{key}.mp4"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.stem + ".partial.mp4")
            _browser_copy(src, tmp, progress)
            os.replace(tmp, target)
    rel = os.path.relpath(target.resolve(), page.resolve())
    return Path(rel).as_posix().replace("%", "%25").replace("#", "%23").replace("?", "%3F")


def render_page(template: str, data: dict) -> str:
    """Fill a package HTML template with ``data`` (JSON, safe inside ``<script>``) and the viewer
    script."""
    pkg = resources.files(__package__)
    html = (pkg / template).read_text(encoding="utf-8")
    script = (pkg / "viewer.js").read_text(encoding="utf-8")
    payload = json.dumps(data, ensure_ascii=False).replace("</", "<\\/").replace("<!--", "<\\!--")
    return html.replace("__VIEWER_JS__", script).replace("__DRAQ_DATA__", payload)


def write_viewer(
    alignment,
    out_path: PathLike,
    *,
    plot: Optional[PathLike] = None,
    copy_media: bool = False,
    progress: bool = False,
) -> Path:
    """Write ``viewer.html``: A (with controls) and B following it through the time map.

    B's ``currentTime`` follows ``TimeMap(A.currentTime)`` while A plays, pauses, seeks or
    changes rate (see ``viewer.js``: rate matching with a proportional correction, seeking when
    off by more than 60 ms, pausing B where it freezes). The page shows the DRAQ score and its
    parts, both file names and the cost-matrix picture ``plot`` (linked relatively).

    Parameters
    ----------
    alignment : draqcore.Alignment
    out_path : path
        The HTML file; media copies go to ``media/`` beside it.
    plot : path, optional
        A PNG to show (``cost_matrix.png``).
    copy_media : bool
        Always link copies in ``media/`` (a folder that can be moved as a whole), not originals.
    """
    out = Path(out_path)
    page_dir = out.parent
    page_dir.mkdir(parents=True, exist_ok=True)
    data = {
        "draq": float(alignment.draq),
        "dtw_cost": float(alignment.dtw_cost),
        "random_cost": float(alignment.random_cost),
        "a": {"file": Path(alignment.a.path).name, "src": media_link(alignment.a.path, page_dir, copy=copy_media, progress=progress)},
        "b": {"file": Path(alignment.b.path).name, "src": media_link(alignment.b.path, page_dir, copy=copy_media, progress=progress)},
        "map": TimeMap.from_alignment(alignment).to_dict(),
        "plot": Path(os.path.relpath(Path(plot).resolve(), page_dir.resolve())).as_posix() if plot is not None else None,
    }
    out.write_text(render_page("viewer.html", data), encoding="utf-8")
    return out
