"""``draq index --ray``: a local Ray cluster (loopback, 2 CPUs at most) extracts, one writer commits;
the collection equals a serial one, feature for feature."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason='needs pip install "draqcore[ray]"')

from draqcore import Collection  # noqa: E402
from draqcore.cli import main  # noqa: E402
from draqcore.synthetic import generate_dataset  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning",
                                        "ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("ray-videos")
    truths = generate_dataset(root, classes=2, clips_per_class=3, hard_negatives_per_class=0, seed=5,
                              phase_count=3, size=(48, 32), frames=(20, 28), threads=1)
    paths = [Path(t.path) for t in truths]
    (root / "broken.mp4").write_bytes(b"not a video")
    return paths + [root / "broken.mp4"]


def _content(path: Path) -> list[tuple]:
    with Collection.open(path) as c:
        out = []
        for r in c.videos():
            feats = c.features(r).tobytes() if r.ok else None
            times = c.frame_times(r).tobytes() if r.ok else None
            out.append((r.id, r.path, r.status, r.reason, r.sha256, r.row_offset, r.num_frames, r.features_digest,
                        feats, times))
        return out


def test_ray_index_equals_serial(videos: list[Path], tmp_path: Path, local_ray) -> None:
    from draqcore.distributed import add_with_ray

    with Collection.create(tmp_path / "serial") as c:
        serial = c.add(videos)
    with Collection.create(tmp_path / "ray") as c:
        report = add_with_ray(c, videos, window=3)
    assert report.to_dict() == serial.to_dict() and len(report.failed) == 1
    assert _content(tmp_path / "ray") == _content(tmp_path / "serial")
    a = sorted((tmp_path / "serial" / "features").iterdir())
    b = sorted((tmp_path / "ray" / "features").iterdir())
    assert [f.read_bytes() for f in a] == [f.read_bytes() for f in b]
    with Collection.open(tmp_path / "ray") as c:  # resumes: nothing new is sent to the cluster
        again = add_with_ray(c, videos)
        assert len(again.skipped) == len(videos) - 1 and len(again.added) == 0
        hits = c.search(videos[0], top=3)
        assert Path(hits[0].path) == videos[0].resolve() and np.isfinite(hits[0].draq)


def test_draq_index_ray_cli(videos: list[Path], tmp_path: Path, local_ray, capsys: pytest.CaptureFixture[str]) -> None:
    coll = tmp_path / "c"
    assert main(["index", *map(str, videos[:3]), "--collection", str(coll), "--quiet", "--ray"]) == 0
    assert "indexed 3 new" in capsys.readouterr().out
    assert main(["index", *map(str, videos[:3]), "--collection", str(coll), "--quiet", "--ray", "local"]) == 0
    assert "skipped 3 unchanged" in capsys.readouterr().out


def test_batch_search_on_ray_equals_serial(videos: list[Path], tmp_path: Path, local_ray,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from draqcore.distributed import search_with_ray

    coll = tmp_path / "c"
    with Collection.create(coll) as c:
        c.add(videos[:6])
        serial = [[h.to_dict() for h in c.search(q, top=3)] for q in videos[:4]]
    ranked = search_with_ray(coll, videos[:4], top=3)
    assert [[h.to_dict() for h in hits] for hits in ranked] == serial
    qdir = tmp_path / "queries"
    qdir.mkdir()
    for v in videos[:2]:
        (qdir / v.name).symlink_to(v)
    args = ["search", "--batch", str(qdir), "--collection", str(coll), "--top", "2", "--json"]
    assert main(args) == 0
    want = json.loads(capsys.readouterr().out)
    assert main(args + ["--ray"]) == 0
    assert json.loads(capsys.readouterr().out) == want
