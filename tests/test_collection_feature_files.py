"""Feature files for ``draq index --features``: .npy, .npz (one clip per key) and HDF5 (one clip per
2-D dataset), their times, and the errors for what does not fit."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from draqcore import Collection
from draqcore.cli import main
from draqcore.collection.feature_files import read_clips, scan_feature_folder

D = 12


def _clips(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    protos = [np.cumsum(rng.normal(size=(40, D)), axis=0) for _ in range(3)]
    out = {}
    for i in range(n):
        t = int(rng.integers(20, 30))
        idx = np.sort(rng.choice(40, size=t, replace=False))
        out[f"c{i:03d}"] = protos[i % 3][idx] + 0.3 * rng.normal(size=(t, D))
    return out


def _h5py():
    if os.environ.get("DRAQ_REQUIRE_HDF5") == "1":  # CI installs draqcore[hdf5]: never skip there
        import h5py
        return h5py
    return pytest.importorskip("h5py", reason='HDF5 tests need h5py: pip install "draqcore[hdf5]"')


def test_npz_one_clip_per_key_with_times_mixed_with_npy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clips = _clips(9)
    names = sorted(clips)
    folder = tmp_path / "feats"
    folder.mkdir()
    times = np.linspace(0.0, 3.0, len(clips["c001"]))
    np.savez(folder / "part0.npz", **{n: clips[n].astype(np.float16) for n in names[:4]}, **{"c001.times": times})
    np.savez_compressed(folder / "part1.npz", **{n: clips[n] for n in names[4:8]})
    np.save(folder / f"{names[8]}.npy", clips[names[8]].astype(np.float32))
    found = scan_feature_folder(folder)  # by file name (c008.npy first), then by key
    assert [c.name for c in found] == names[8:] + names[:8]
    assert found[2].times_key == "c001.times" and found[1].times_key is None and found[0].times_file is None
    read = list(read_clips(found))
    assert [r[0] for r in read] == names[8:] + names[:8]
    np.testing.assert_array_equal(read[2][2], times)
    np.testing.assert_array_equal(read[1][1], clips["c000"].astype(np.float16))
    coll = tmp_path / "coll"
    args = ["index", "--features", str(folder), "--collection", str(coll), "--quiet", "--features-name", "r50"]
    assert main(args) == 0
    assert "indexed 9 new" in capsys.readouterr().out
    assert main(args) == 0
    assert "skipped 9 unchanged" in capsys.readouterr().out
    with Collection.open(coll) as c:
        assert len(c) == 9 and c.extractor.dim == D
        np.testing.assert_array_equal(c.frame_times("c001"), times)
        np.testing.assert_array_equal(c.features("c005"), clips["c005"].astype(np.float32))
        np.testing.assert_array_equal(c.features("c002"), clips["c002"].astype(np.float16).astype(np.float32))
        assert c.search(clips["c006"], top=1)[0].path == "c006"


def test_hdf5_one_clip_per_dataset_named_by_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h5py = _h5py()
    clips = _clips(6, seed=1)
    names = sorted(clips)
    folder = tmp_path / "feats"
    folder.mkdir()
    times = np.arange(len(clips["c004"])) * 0.25
    with h5py.File(folder / "kinetics.h5", "w") as h:
        for n in names[:3]:
            h.create_dataset(n, data=clips[n].astype(np.float32))
        g = h.create_group("val")
        for n in names[3:]:
            g.create_dataset(n, data=clips[n], compression="gzip")
        g.create_dataset("c004.times", data=times)
    found = scan_feature_folder(folder)
    assert [c.name for c in found] == names[:3] + [f"val/{n}" for n in names[3:]]
    coll = tmp_path / "coll"
    assert main(["index", "--features", str(folder), "--collection", str(coll), "--quiet", "--features-name", "i3d"]) == 0
    assert "indexed 6 new" in capsys.readouterr().out
    with Collection.open(coll) as c:
        np.testing.assert_array_equal(c.frame_times("val/c004"), times)
        np.testing.assert_array_equal(c.features("val/c005"), clips["c005"].astype(np.float32))
        assert c.search(clips["c001"], top=1)[0].path == "c001"


def test_hdf5_errors(tmp_path: Path) -> None:
    h5py = _h5py()
    folder = tmp_path / "f"
    folder.mkdir()
    with h5py.File(folder / "a.hdf5", "w") as h:
        h.create_dataset("clip", data=np.zeros((4, D)))
        h.create_dataset("labels", data=np.arange(5))
    with pytest.raises(ValueError, match=r"a\.hdf5: dataset 'labels' of shape \(5,\)"):
        scan_feature_folder(folder)
    (folder / "a.hdf5").unlink()
    with h5py.File(folder / "b.h5", "w") as h:
        h.create_dataset("clip", data=np.zeros((4, D)))
        h.create_dataset("other.times", data=np.arange(4.0))
    with pytest.raises(ValueError, match="times of a clip 'other'"):
        scan_feature_folder(folder)
    (folder / "b.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match="b.h5: not a readable HDF5 file"):
        scan_feature_folder(folder)


def test_bad_feature_folders_are_refused_before_anything_is_added(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    clips = _clips(3)
    folder = tmp_path / "f"
    folder.mkdir()
    np.save(folder / "c000.npy", clips["c000"])
    np.savez(folder / "more.npz", c000=clips["c001"], c002=clips["c002"])
    coll = tmp_path / "coll"
    args = ["index", "--features", str(folder), "--collection", str(coll), "--features-name", "x", "--quiet"]
    assert main(args) == 1
    assert "clip name 'c000' is also given by" in capsys.readouterr().err
    assert not coll.exists()
    np.savez(folder / "more.npz", c001=clips["c001"], **{"c009.times": np.arange(3.0)})
    with pytest.raises(ValueError, match="key 'c009.times' holds the times of a clip 'c009'"):
        scan_feature_folder(folder)
    np.savez(folder / "more.npz", c001=clips["c001"])
    np.save(folder / "c007.times.npy", np.arange(3.0))
    with pytest.raises(ValueError, match="no c007.npy beside it"):
        scan_feature_folder(folder)
    (folder / "c007.times.npy").unlink()
    np.savez(folder / "more.npz", c001=np.array([{"a": 1}], dtype=object))  # never unpickled
    found = scan_feature_folder(folder)
    with pytest.raises(ValueError, match=r"more.npz \(key 'c001'\): expected a real array of at most 2 dimensions, got dtype object"):
        list(read_clips(found))
    np.savez(folder / "more.npz", c001=np.zeros(5))
    with pytest.raises(ValueError, match=r"more.npz \(key 'c001'\): expected a \(T, d\) real array"):
        list(read_clips(scan_feature_folder(folder)))
    (folder / "more.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="more.npz: not a readable .npz file"):
        scan_feature_folder(folder)
    (folder / "more.npz").unlink()
    (folder / "c000.npy").unlink()
    with pytest.raises(ValueError, match="holds no feature files"):
        scan_feature_folder(folder)
    with pytest.raises(ValueError, match="not a folder"):
        scan_feature_folder(folder / "missing")


def _npy_bytes(shape: tuple[int, ...], body: bytes, descr: str = "<f4") -> bytes:
    """A .npy file whose header claims ``shape`` whatever ``body`` holds (a forged header)."""
    import struct

    header = "{'descr': '%s', 'fortran_order': False, 'shape': %r, }" % (descr, shape)
    header = header.ljust(118) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + body


def test_forged_headers_and_compression_bombs_are_refused_before_allocating(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import zipfile

    from draqcore.store import npy

    folder = tmp_path / "f"
    folder.mkdir()
    # A header claiming 466 TiB on a 64-byte file: np.load would try to allocate it.
    (folder / "huge.npy").write_bytes(_npy_bytes((10**12, 128), b"\0" * 64))
    coll = tmp_path / "coll"
    args = ["index", "--features", str(folder), "--collection", str(coll), "--features-name", "x", "--quiet"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "huge.npy: declares a float32 array of shape (1000000000000, 128)" in err and "Traceback" not in err
    # A plausible shape, but fewer bytes than it needs (a truncated or forged file).
    (folder / "huge.npy").write_bytes(_npy_bytes((10, 4), b"\0" * 64))
    with pytest.raises(ValueError, match=r"huge.npy: holds 64 data bytes, but its header \(float32 \(10, 4\)\) needs 160"):
        list(read_clips(scan_feature_folder(folder)))
    (folder / "huge.npy").unlink()
    # The same forged header inside an .npz member.
    with zipfile.ZipFile(folder / "x.npz", "w") as z:
        z.writestr("clip.npy", _npy_bytes((10**12, 128), b"\0" * 64))
    with pytest.raises(ValueError, match=r"x.npz \(key 'clip'\): declares a float32 array"):
        list(read_clips(scan_feature_folder(folder)))
    # A compression bomb: 8 MiB of zeros deflate to a few KB. With the cap lowered to 1 MiB (the
    # real cap is half the machine's memory) it is refused from its header, before decompressing.
    np.savez_compressed(folder / "x.npz", clip=np.zeros((2048, 1024), dtype=np.float32))
    assert (folder / "x.npz").stat().st_size < 100_000
    monkeypatch.setattr(npy, "memory_cap", lambda: 1 << 20)
    with pytest.raises(ValueError, match=r"x.npz \(key 'clip'\): declares a float32 array of shape \(2048, 1024\)"):
        list(read_clips(scan_feature_folder(folder)))
    monkeypatch.undo()
    # Under the cap it reads, and Fortran-ordered and big-endian arrays read as their values.
    got = dict((n, f) for n, f, _, _ in read_clips(scan_feature_folder(folder)))
    assert got["clip"].shape == (2048, 1024) and not got["clip"].any()
    (folder / "x.npz").unlink()
    a = np.asfortranarray(np.arange(24, dtype=">f8").reshape(6, 4))
    np.save(folder / "fortran.npy", a)
    np.savez(folder / "y.npz", big=a.astype(">i4"))
    got = dict((n, f) for n, f, _, _ in read_clips(scan_feature_folder(folder)))
    np.testing.assert_array_equal(got["fortran"], a)
    np.testing.assert_array_equal(got["big"], a)
    assert main(args) == 0
    with Collection.open(coll) as c:
        assert len(c) == 2
        np.testing.assert_array_equal(c.features("fortran"), a.astype(np.float32))
        np.testing.assert_array_equal(c.features("big"), a.astype(np.float32))


def test_hdf5_dataset_declaring_more_than_memory_is_refused_before_reading(tmp_path: Path) -> None:
    h5py = _h5py()
    folder = tmp_path / "f"
    folder.mkdir()
    with h5py.File(folder / "lazy.h5", "w") as h:  # chunked and never written: a tiny file
        h.create_dataset("clip", shape=(10**9, 1024), dtype="f4", chunks=(1024, 1024))
    assert (folder / "lazy.h5").stat().st_size < 1_000_000
    with pytest.raises(ValueError, match=r"lazy.h5 \(key 'clip'\): declares a float32 array of shape \(1000000000, 1024\)"):
        list(read_clips(scan_feature_folder(folder)))
