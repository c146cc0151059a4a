"""Search: retrieve candidates by clip vector, re-rank them by DRAQ (paper Sec. 3)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np

import draqcore  # the compiled-core wrappers (draq_batch, contextualize, warp); used at call time

from .._validate import as_nonnegative_int as _int_arg
from .inputs import PathLike, _catalog_key, _content_hash, _resolve
from .results import SearchHit, _readonly
from ..store.catalog import VideoRecord
from .window_index import _WindowIndex
from .state import _clip_mean, _video_name
from ..features.precomputed import Precomputed
from ..store.locations import Located, located
from ..store.npy import read_untrusted_npy

_METHODS = ("exact", "sampled")

SUBSEQUENCE_RATIO: float = 1.5
"""A candidate this many times longer than the query (sampled frames) or more is matched by
subsequence DTW/DRAQ (the query against a part of it) instead of end to end: below it, DTW's
pinned ends cost little, and a whole-video match is what the paper's re-ranking scores -- unless
the probe below finds that the candidate holds clearly more than the query."""

PROBE_OUTSIDE: float = 0.1
"""With ``subsequence=None``, a candidate shorter than :data:`SUBSEQUENCE_RATIO` times the query
is also probed by subsequence DTW (:func:`draqcore.segments.match_segments`): when its best
segment leaves out at least ``max(MIN_EXTRA_FRAMES, PROBE_OUTSIDE * n)`` of its sampled frames
(``n``: the query's; a tenth of the query, at least 0.5 s at 10 fps), scores a lower DRAQ as a
clip than the whole video does, and the frames it leaves out are unlike the query (their median
cost to the best-matching query frame is above the 90th percentile of the segment's own frames),
the segment replaces the whole-video match. A length ratio alone
cannot tell a slowed-down copy of the query (alignable end to end) from the query inside a
little more footage (e.g. after 1.5 s of something else, only 1.4 times as long as the query),
where end-to-end DTW pins the query's first frame to the unrelated start."""


@dataclass(frozen=True)
class _Match:
    candidate: int  # index into the retrieved candidates
    order: int  # tie-break: retrieval order, then segment order
    dtw_cost: float
    random_cost: float
    draq: float
    path: np.ndarray  # sampled path, columns in the candidate's own frame indices
    subsequence: bool


def _score_candidates(
    q_feats: np.ndarray, feats: list, *, subsequence: Optional[bool], method: str, k: int, seed: int,
    band: Optional[int],
) -> list[_Match]:
    """DRAQ of the query against every candidate: end to end for short candidates, the best
    segments (:func:`draqcore.segments.match_segments`, with the parts before and after) for
    long ones. ``q_feats`` and ``feats`` are plain frame features."""
    from ..segments import MIN_EXTRA_FRAMES, match_segments

    n = q_feats.shape[0]
    if subsequence is None:
        long = [f.shape[0] >= SUBSEQUENCE_RATIO * n for f in feats]
    else:
        long = [bool(subsequence)] * len(feats)
    out: list[_Match] = []
    whole_idx = [i for i, is_long in enumerate(long) if not is_long]
    if whole_idx:
        # Contextualized (Eq. 2-3) inside the kernel, each candidate into a per-thread buffer.
        r = draqcore.draq_batch(q_feats, [feats[i] for i in whole_idx], contextualize=True,
                                metric="cosine", method=method, k=k, seed=seed, band=band, return_paths=True)
        assert r.paths is not None
        whole = {i: _Match(i, 3 * i, float(r.dtw_cost[j]), float(r.random_cost[j]), float(r.draq[j]), r.paths[j], False)
                 for j, i in enumerate(whole_idx)}
        if subsequence is None:  # probe: does a candidate hold clearly more than the query?
            outside = int(np.ceil(max(MIN_EXTRA_FRAMES, PROBE_OUTSIDE * n)))
            for m in match_segments(q_feats, [feats[i] for i in whole_idx], method=method, k=k, seed=seed,
                                    band=band, min_outside=outside):
                i = whole_idx[m.candidate]
                if m.draq < whole[i].draq and _left_out_is_foreign(q_feats, feats[i], m.span):
                    whole[i] = _Match(i, 3 * i, m.dtw_cost, m.random_cost, m.draq, m.path, True)
        out.extend(whole[i] for i in whole_idx)
    long_idx = [i for i, is_long in enumerate(long) if is_long]
    if long_idx:
        for m in match_segments(q_feats, [feats[i] for i in long_idx], method=method, k=k, seed=seed, band=band, more=True):
            i = long_idx[m.candidate]
            out.append(_Match(i, 3 * i + m.order, m.dtw_cost, m.random_cost, m.draq, m.path, True))
    return out


def _left_out_is_foreign(q_feats: np.ndarray, cand: np.ndarray, span: tuple) -> bool:
    """Whether the frames of ``cand`` outside ``span`` (inclusive sampled columns) are unlike the
    query: the median, over those frames, of their cosine cost to the query's best-matching frame
    exceeds the 90th percentile of the same over the frames inside the span. Left-out frames that
    some query frame matches as well as the segment's own frames are part of the query (e.g. a
    slow stretch that subsequence DTW, which minimises a sum of costs, prefers to skip), not
    footage around it."""
    best = draqcore.cost_matrix(q_feats, cand, metric="cosine").min(axis=0)
    j0, j1 = int(span[0]), int(span[1])
    outside = np.concatenate([best[:j0], best[j1 + 1 :]])
    return outside.size > 0 and float(np.median(outside)) > float(np.quantile(best[j0 : j1 + 1], 0.9))


class _Search(_WindowIndex):
    """:meth:`search` (mixin of :class:`~draqcore.collection.Collection`)."""

    def _stored_query(self, query: Any, query_times: Optional[Any]) -> Optional[tuple[np.ndarray, np.ndarray]]:
        """A query naming a clip of a precomputed-features collection: its stored features."""
        if not isinstance(self._extractor, Precomputed):
            return None
        with self._cat.snapshot():
            rec = self._cat.find(str(query))
            if rec is None or not rec.ok:
                if str(query).lower().endswith(".npy"):
                    return None
                raise ValueError(
                    f"query: {str(query)!r} names no clip of this precomputed-features collection; pass a "
                    f"(T, {self._dim}) array, a .npy file, or the name of a stored clip"
                )
            if query_times is not None:
                raise ValueError("query_times: only for a query given as a feature array (a stored clip has its own times)")
            return np.array(self._read(rec), dtype=np.float32), self._cat.frames(rec.id)[0]

    def _query_features(self, query: Any, query_times: Optional[Any]) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(query, (str, os.PathLike)):
            stored = self._stored_query(query, query_times)
            if stored is not None:
                return stored
            if str(query).lower().endswith(".npy"):
                query = _load_npy(_resolve(query))
        if isinstance(query, (str, os.PathLike)):
            if query_times is not None:
                raise ValueError("query_times: only for a query given as a feature array (a video has its own times)")
            path = _resolve(query)
            if not path.exists():
                raise FileNotFoundError(f"query: no such file {path}")
            with self._cat.snapshot():
                rec = self._cat.find(_catalog_key(path)[0])
                if rec is not None and rec.ok:
                    try:
                        same = rec.sha256 == _content_hash(path)
                    except OSError:
                        same = False  # decoding reports why it cannot be read
                    if same:
                        # Same bytes already embedded with this extractor: reuse the stored features.
                        return np.array(self._read(rec), dtype=np.float32), self._cat.frames(rec.id)[0]
            feats, times, _, _ = self._extract(path)
            return np.ascontiguousarray(feats, dtype=np.float32), times
        arr = np.asarray(query)
        if arr.dtype.kind not in "fiu":
            raise TypeError(f"query: expected a video path or a (T, {self._dim}) real array, got dtype {arr.dtype}")
        if arr.ndim != 2 or arr.shape[1] != self._dim or arr.shape[0] == 0:
            raise ValueError(f"query: expected frame features of shape (T, {self._dim}) with T >= 1, got {arr.shape}")
        with np.errstate(over="ignore"):  # values beyond float32 become inf: reported below
            feats = np.array(arr, dtype=np.float32, copy=True)
        if not np.isfinite(feats).all():
            raise ValueError("query: contains NaN/Inf (or values too large for float32)")
        if query_times is None:
            times = np.arange(feats.shape[0], dtype=np.float64) / self._sample_fps
        else:
            times = np.array(query_times, dtype=np.float64, copy=True)
            if times.shape != (feats.shape[0],):
                raise ValueError(f"query_times: expected shape ({feats.shape[0]},), got {times.shape}")
            if not np.isfinite(times).all():
                raise ValueError("query_times: contains NaN/Inf")
            if times.size > 1 and not (np.diff(times) > 0).all():
                bad = int(np.flatnonzero(np.diff(times) <= 0)[0]) + 1
                raise ValueError(
                    f"query_times: must strictly increase (frame {bad} is at {times[bad]!r} s, frame {bad - 1} at "
                    f"{times[bad - 1]!r} s)"
                )
        return feats, times

    def search(
        self,
        query: Union[PathLike, np.ndarray],
        top: int = 10,
        candidates: int = 50,
        *,
        method: str = "exact",
        k: int = 100,
        seed: int = 0,
        band: Optional[int] = None,
        query_times: Optional[np.ndarray] = None,
        subsequence: Optional[bool] = None,
        windows: bool = True,
    ) -> list[SearchHit]:
        """Find the videos best alignable with ``query`` (paper Sec. 3).

        1. The query's clip vector (mean of its frame features) is standardised with the
           collection's statistics; the ANN index returns the ``candidates`` most cosine-similar
           videos. With ``windows`` (default), long videos also compete by their best
           overlapping window (:mod:`draqcore.store.windows`: 8 s windows, 4 s stride, same
           standardisation): a video's retrieval similarity is the best of its clip vector's
           and its windows', and ``candidates`` counts videos, never windows.
        2. All candidates are scored by DRAQ in one :func:`draqcore.draq_batch` call on
           :func:`draqcore.contextualize` d frame features (query and candidates), cosine frame
           cost.
        3. Hits are sorted by DRAQ ascending (ties keep the retrieval order) and the first
           ``top`` returned, each with its DTW alignment.

        **Long videos.** A candidate at least :data:`SUBSEQUENCE_RATIO` times as long as the
        query (in sampled frames) is matched by segment (:func:`draqcore.segments.match_segments`):
        subsequence DTW finds the contiguous part the whole query matches best, and that part
        is scored as a clip of its own (contextualized, DRAQ), comparable with whole-video DRAQ.
        The hit's ``start``/``end`` give that part in seconds. The parts of the video before
        and after it, where each is still at least as long as the query, are searched once more
        the same way and may come back as separate hits of the same video; they never overlap,
        so one moment is never returned twice. Segments narrower than a third of the query (a
        query squeezed into a few frames: no match) are dropped, so a long video may give no hit.
        A shorter candidate is aligned end to end, and also probed by segment: when its best
        segment leaves out at least a tenth of the query's length of it, scores a lower DRAQ
        and what it leaves out is unlike the query, the segment is the hit
        (:data:`PROBE_OUTSIDE`: the query inside a video that is only a little longer, e.g.
        after some unrelated footage).

        Parameters
        ----------
        query : path-like or array_like of shape (T, d)
            A video file (decoded at :attr:`sample_fps` with the collection's extractor; a file
            already in the collection with unchanged content reuses its stored features), or
            frame features computed with the same extractor.
        top : int, default 10
            Hits to return (>= 1); fewer when the collection is smaller.
        candidates : int, default 50
            Videos retrieved for re-ranking (>= ``top``); at most the collection size.
        method : {"exact", "sampled"}
            Random-path baseline: exact expectation or ``k`` sampled paths.
        k : int, default 100
            Sampled paths per pair (``method="sampled"``).
        seed : int, default 0
        band : int, optional
            Sakoe-Chiba radius of the DTW, in sampled frames.
        query_times : array_like of shape (T,), optional
            Seconds of the query frames, strictly increasing when ``query`` is an array; default ``arange(T) /
            sample_fps``.
        subsequence : bool, optional
            ``None`` (default): subsequence matching for long candidates, and for shorter ones
            that hold clearly more than the query (see above);
            ``True``: for every candidate; ``False``: whole-video matching only (the paper's).
        windows : bool, default True
            Retrieve long videos also by their window vectors (see step 1); ``False``: by
            whole-video clip vectors only (the paper's retrieval).

        Returns
        -------
        list of SearchHit
            Sorted by ``draq`` ascending.

        Raises
        ------
        ValueError
            Bad arguments, an empty collection, a query of the wrong dimension, a video that
            cannot be decoded (:class:`draqcore.video.VideoReadError`), a damaged collection
            (e.g. candidates' features that do not match the clip vectors of the index).
        FileNotFoundError
            A query path that does not exist.

        Notes
        -----
        A search sees the last committed state of the collection when it starts (one SQLite
        read transaction), including videos another process committed after :meth:`open`. A
        reader whose saved index does not hold exactly those videos builds one in memory (a
        writer rebuilds and saves it).
        """
        top = _int_arg(top, "top", 1)
        candidates = _int_arg(candidates, "candidates", 1)
        if candidates < top:
            raise ValueError(f"candidates: must be >= top ({top}) since hits are chosen among them, got {candidates}")
        if not isinstance(method, str) or method not in _METHODS:
            raise ValueError(f"method: expected 'exact' or 'sampled', got {method!r}")
        k = _int_arg(k, "k", 1)
        seed = _int_arg(seed, "seed", 0)
        if band is not None:
            band = _int_arg(band, "band", 0)
        cat = self._cat
        if not cat.has_ok():
            raise ValueError(f"collection {self._directory}: is empty; add videos with Collection.add first")
        q_feats, q_times = self._query_features(query, query_times)
        if self._lock is not None and self._lock.held:
            self._update_index()  # a writer repairs a stale index (e.g. after a crash) before using it
        # One read transaction: the index, the records and their frames all come from the same
        # committed state, whatever a concurrent writer commits meanwhile.
        with cat.snapshot():
            q_mean = _clip_mean(q_feats)
            ids, sims, stats = self._retrieve(q_mean, candidates)
            by_window: dict[int, int] = {}
            if windows:
                ids, sims, by_window = self._merge_windows(ids, sims, *self._retrieve_windows(q_mean, candidates, stats),
                                                           candidates)
            if ids.size == 0:
                raise ValueError(f"collection {self._directory}: is empty; add videos with Collection.add first")
            records = self._locate(ids)  # _retrieve returns ok ids of this snapshot only
            # Cold candidates are random disk reads: announce them all, then read (see prefetch).
            self._features.prefetch([(r.row_offset, r.num_frames) for r in records])
            feats = [self._read(r) for r in records]
            self._verify_candidates(records, feats)
            self._verify_windows(records, feats, by_window)
            q_times = _readonly(np.array(q_times, dtype=np.float64))
            scored = _score_candidates(
                q_feats, [np.asarray(f, dtype=np.float32) for f in feats], subsequence=subsequence, method=method,
                k=k, seed=seed, band=band,
            )
            scored.sort(key=lambda m: (m.draq, m.order))  # stable: ties keep the retrieval order
            rows = cat.get_many([records[m.candidate].id for m in scored[:top]])
            hits: list[SearchHit] = []
            for rank, m in enumerate(scored[:top], start=1):
                rec = self._hit_record(records[m.candidate], rows)
                hit_times = _readonly(cat.frames(rec.id)[0])
                j0 = int(m.path[0, 1])  # 0, or the first column of a segment
                match = _readonly(np.asarray(draqcore.warp(m.path - [0, j0], keep=0), dtype=np.int64) + j0)
                hits.append(
                    SearchHit(
                        rank=rank,
                        path=rec.path,
                        class_name=rec.class_name,
                        similarity=float(sims[m.candidate]),
                        dtw_cost=m.dtw_cost,
                        random_cost=m.random_cost,
                        draq=m.draq,
                        alignment=match,
                        query_times=q_times,
                        hit_times=hit_times,
                        video_id=rec.id,
                        start=float(hit_times[match[0]]),
                        end=float(hit_times[match[-1]]),
                        subsequence=m.subsequence,
                    )
                )
        return hits


    def _locate(self, ids: np.ndarray) -> list[Union[VideoRecord, Located]]:
        """Where the features of these ok ids (of this snapshot) are, in order: from the clip
        index's row data and the pending tail, reading no catalog row
        (:mod:`draqcore.store.locations`); ids neither holds (an index saved without row
        data, or ids below its largest one that it does not hold) from their catalog rows."""
        index = self._index if getattr(self, "_index_loaded", False) else None
        out: dict[int, Union[VideoRecord, Located]] = {}
        if index is not None and index.row_data is not None:
            data = index.row_data
            for v, r in zip(ids.tolist(), index.rows_of(ids).tolist()):
                if r >= 0:
                    out[v] = located(v, data[r])
            tail_ids, _, tail_locations = self._tail(index)  # this snapshot's (kept between searches)
            left = np.array([v for v in ids.tolist() if v not in out], dtype=np.int64)
            if left.size and tail_ids.size:
                pos = np.minimum(np.searchsorted(tail_ids, left), tail_ids.size - 1)
                for v, p in zip(left.tolist(), pos.tolist()):
                    if tail_ids[p] == v:
                        out[v] = located(v, tail_locations[p])
        missing = [v for v in ids.tolist() if v not in out]
        if missing:
            out.update(self._cat.get_many(missing))
        return [out[int(v)] for v in ids]

    def _hit_record(self, cand: Union[VideoRecord, Located], rows: dict[int, VideoRecord]) -> VideoRecord:
        """The catalog row of a hit (read in the search's snapshot), checked against where its
        features were read from: a hit is never reported from features its row does not name."""
        rec = rows.get(cand.id)
        if rec is None or not rec.ok:
            raise ValueError(
                f"collection {self._directory}: video {cand.id} was retrieved as an ok video but its catalog row is "
                f"gone: the catalog's removal log is incomplete; run `draq check {self._directory}`"
            )
        if isinstance(cand, Located) and (cand.row_offset, cand.num_frames, cand.features_digest) != (
                rec.row_offset, rec.num_frames, rec.features_digest):
            raise ValueError(
                f"collection {self._directory}: the feature location the index keeps for {_video_name(rec)} differs "
                f"from its catalog row: an index file was modified; run `draq check {self._directory}`"
            )
        return rec

    @staticmethod
    def _merge_windows(ids: np.ndarray, sims: np.ndarray, w_ids: np.ndarray, w_sims: np.ndarray,
                       w_labels: np.ndarray, candidates: int) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
        """Clip and window retrieval merged: each video by its best similarity (clip vector or
        best window), most similar first (ties by id), the first ``candidates`` videos; and the
        window label of each video that a window brought in."""
        best: dict[int, tuple[float, int]] = {int(v): (float(s), -1) for v, s in zip(ids, sims)}
        for v, s, lab in zip(w_ids.tolist(), w_sims.tolist(), w_labels.tolist()):
            if v not in best or s > best[v][0]:
                best[v] = (float(s), int(lab))
        order = sorted(best, key=lambda v: (-best[v][0], v))[:candidates]
        out_ids = np.array(order, dtype=np.int64)
        out_sims = np.array([best[v][0] for v in order], dtype=np.float64)
        return out_ids, out_sims, {v: best[v][1] for v in order if best[v][1] >= 0}

    def _verify_candidates(self, records: list, feats: list) -> None:
        """Refuse retrieved videos whose stored clip vector (the one retrieval used) is not the
        mean of their features: forged, swapped or duplicated vectors would otherwise silently
        return the wrong videos. Videos in the graph are checked against the vectors hnswlib
        holds in memory (:meth:`AnnIndex.holds`: no file read), pending ones against the tail's
        vectors (from the catalog, kept between searches), any other against its catalog row.
        Costs one mean per candidate, whose features are read for scoring anyway."""
        from ..store.integrity import _means_match

        if not records:
            return
        index = self._index if getattr(self, "_index_loaded", False) else None
        got = np.stack([_clip_mean(np.asarray(f, dtype=np.float32)) for f in feats])
        ids = np.array([r.id for r in records], dtype=np.int64)
        bad: list = []
        in_graph = index.rows_of(ids) >= 0 if index is not None else np.zeros(ids.size, dtype=bool)
        if in_graph.any():
            assert index is not None
            held = index.holds(ids[in_graph], got[in_graph])
            bad.extend(records[i] for i in np.flatnonzero(in_graph)[~held].tolist())
        tail_ids, tail_means, _ = self._tail(index)
        for i in np.flatnonzero(~in_graph).tolist():
            p = int(np.searchsorted(tail_ids, ids[i]))
            if p < tail_ids.size and tail_ids[p] == ids[i]:
                stored = tail_means[p]
            else:
                cat_ids, means, _ = self._cat.clip_means(int(ids[i]) - 1, int(ids[i]))
                stored = means[0] if cat_ids.size else None
            if stored is not None and not np.isnan(stored[0]) and not _means_match(got[i], stored):
                bad.append(records[i])
        if bad:
            raise ValueError(
                f"collection {self._directory}: the clip vector stored for {_video_name(bad[0])} is not the "
                "mean of its features: a collection file was modified (swapped or forged vectors would give wrong "
                f"results); run `draq check {self._directory}`"
            )

def _load_npy(path: Any) -> np.ndarray:
    """A (T, d) features file saved with ``numpy.save`` (never unpickled)."""
    try:
        return read_untrusted_npy(path, max_ndim=2)
    except FileNotFoundError:
        raise FileNotFoundError(f"query: no such file {path}") from None
    except ValueError as exc:
        raise ValueError(f"query: {exc}") from None
