"""Extractors travel to worker processes: pickled for ``spawn`` pools, inherited by ``fork``.

A user's ``Pool.map(extractor.extract, videos)`` or a Dataset holding an extractor in PyTorch
DataLoader workers pickles the extractor (``spawn``, the default on macOS and Windows) or
inherits it across ``fork`` (LiteRT's interpreter then lives on in the child). Both must give
the parent's features exactly, on real footage, and never hang.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle

import numpy as np
import pytest

from draqcore.features import OpenCVDescriptorExtractor, PoseExtractor, default_extractor, same_identity
from draqcore.features.blazepose import litert_available
from draqcore.video import read_sampled

needs_litert = pytest.mark.skipif(not litert_available(), reason='needs pip install "draqcore[pose]" (ai-edge-litert)')
TIMEOUT = 180  # seconds for one pool; the work itself is well under a second per clip


def _frames(path, step: int, limit: int) -> list[np.ndarray]:
    """Every ``step``-th decoded frame, at most ``limit`` (BGR uint8)."""
    frames = read_sampled(path, sample_fps=None).frames[::step][:limit]
    assert len(frames), path
    return list(frames)


def _map_in_pool(method: str, extractor, clips):
    ctx = mp.get_context(method)
    with ctx.Pool(2) as pool:
        return pool.map_async(extractor.extract, clips).get(timeout=TIMEOUT)


def _check_round_trip_and_workers(extractor, clips, methods) -> None:
    clone = pickle.loads(pickle.dumps(extractor))
    assert type(clone) is type(extractor) and same_identity(clone.identity(), extractor.identity())
    parent = [extractor.extract(c) for c in clips]
    for a, b in zip(parent, (clone.extract(c) for c in clips)):
        np.testing.assert_array_equal(a, b)
    for method in methods:
        got = _map_in_pool(method, extractor, clips)
        for a, b in zip(parent, got):
            np.testing.assert_array_equal(a, b, err_msg=method)


def test_default_extractor_in_spawn_and_fork_workers(footage):
    clips = [_frames(footage("bikes"), 3, 12), _frames(footage("carphone"), 3, 12)]
    _check_round_trip_and_workers(default_extractor(), clips, ("fork", "spawn"))
    mirrored = OpenCVDescriptorExtractor(mirror_invariant=True, work_size=(96, 64))
    clone = pickle.loads(pickle.dumps(mirrored))
    assert clone.dim == mirrored.dim and same_identity(clone.identity(), mirrored.identity())
    np.testing.assert_array_equal(clone.extract(clips[0]), mirrored.extract(clips[0]))


@needs_litert
def test_pose_extractor_in_spawn_and_fork_workers(footage):
    clips = [_frames(footage("pose2sim_cam1"), 8, 5), _frames(footage("carphone"), 8, 5)]
    ex = PoseExtractor(mirror_invariant=True, threads=1)
    ex.extract(clips[0])  # the interpreters have run in the parent before the fork
    _check_round_trip_and_workers(ex, clips, ("fork", "spawn"))
