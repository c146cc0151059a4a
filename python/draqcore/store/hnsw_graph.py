"""Structural validation of an hnswlib graph file before hnswlib sees any of it.

hnswlib's ``Index.load_index`` trusts its file: an out-of-range entry point or neighbour id, a
neighbour count above the degree, a ``label_offset`` of 2**40 or a ``maxlevel`` of 50 make
``knn_query`` read outside its buffers (SIGSEGV), and others raise bare ``RuntimeError``\\ s.
A collection may come from someone else, so :func:`parse_graph` checks **every** byte range of
the file in NumPy first. Then hnswlib gets the graph one of two ways:

* :func:`graph_index` hands it the checked arrays through its pickling constructor
  (``hnswlib.Index(params)``): no second read that could see other bytes, but hnswlib copies
  them, so for a moment the graph is in memory twice (1.4 GB each for 2.2 million vectors);
* :func:`load_graph_file` lets hnswlib read the verified file itself (``load_index``), once,
  after the checked bytes are released. :class:`draqcore.store.AnnIndex` does this only for a
  settled file that no one but the current user can write, through the descriptor it verified
  (``/proc/self/fd/N``: the same inode even if the path was replaced), and keeps the result only
  if the file's identity (device, inode, size, mtime, ctime) did not change meanwhile;
  otherwise it verifies again and takes the first way.

The file (hnswlib 0.8, ``HierarchicalNSW::saveIndex``), little-endian::

    header (96 bytes)   offsetLevel0 u64, max_elements u64, cur_element_count u64,
                        size_data_per_element u64, label_offset u64, offsetData u64,
                        maxlevel i32, enterpoint_node u32, maxM u64, maxM0 u64, M u64,
                        mult f64, ef_construction u64
    level 0             cur_element_count blocks of size_data_per_element bytes:
                        count u32 (low 16 bits; byte 2 is the "deleted" mark), maxM0 neighbour
                        ids u32, the vector (dim float32), the label u64
    upper levels        per element: size u32 (= level * size_links_per_element) and that many
                        bytes: per level a count u32 and maxM neighbour ids u32

What is required (the layout constants are taken from hnswlib itself for the manifest's ``dim``
and ``M``, so they cannot drift from the installed version):

* every header field equals what hnswlib writes for the manifest's ``dim``, ``count``, ``M`` and
  ``ef_construction`` (no offset, size or multiplier is taken from the file);
* the file size is exactly what the header and the per-element link-list sizes imply;
* no element is marked deleted; counts fit the degree (``<= maxM0`` at level 0, ``<= maxM``
  above); every neighbour id is ``< count``; a neighbour at level ``l`` has a level ``>= l``;
* each element's level is ``<=`` the largest a level draw can produce, ``maxlevel`` is the
  largest level and the entry point is on it;
* vectors are finite, labels are distinct.

What the caller checks with the result (:meth:`draqcore.store.AnnIndex.load`): that the labels
are the manifest's ids and that the vectors are the normalised standardised clip vectors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Optional, Union

import hnswlib
import numpy as np

__all__ = ["GraphError", "HnswGraph", "HEADER_BYTES", "check_verified_layout", "parse_graph", "graph_from_verified",
           "graph_index", "level0_end", "level0_outside_component", "level0_strongly_connected", "load_graph_file",
           "reseeded"]

#: Bytes before the level-0 blocks.
HEADER_BYTES: int = 96
# Size prefixes read at once while walking the upper-level link lists.
_RUN = 256
_HEADER = np.dtype(
    [
        ("offset_level0", "<u8"),
        ("max_elements", "<u8"),
        ("cur_element_count", "<u8"),
        ("size_data_per_element", "<u8"),
        ("label_offset", "<u8"),
        ("offset_data", "<u8"),
        ("max_level", "<i4"),
        ("enterpoint_node", "<u4"),
        ("max_M", "<u8"),
        ("max_M0", "<u8"),
        ("M", "<u8"),
        ("mult", "<f8"),
        ("ef_construction", "<u8"),
    ]
)
assert _HEADER.itemsize == HEADER_BYTES
_LAYOUT_FIELDS = ("offset_level0", "size_data_per_element", "label_offset", "offset_data", "max_M", "max_M0", "M")


class GraphError(ValueError):
    """The graph file is not one hnswlib wrote for this index (the message says what differs)."""


@dataclass(frozen=True)
class HnswGraph:
    """A structurally valid graph, as arrays (nothing of it is in hnswlib yet).

    Attributes
    ----------
    labels : ndarray of shape (N,), uint64
        Label (video id) of internal element ``i``.
    levels : ndarray of shape (N,), int32
        Top level of each element.
    vectors : ndarray of shape (N, dim), float32, or None
        The stored (normalised) vectors, row ``i`` for element ``i`` (read-only strided view of
        the file's bytes); None from :func:`graph_from_verified`.
    neighbours0 : ndarray of shape (N, maxM0), int32 (or int64), or None
        Level-0 neighbour ids, ``-1`` beyond each element's count; None from
        :func:`graph_from_verified`.
    """

    labels: np.ndarray
    levels: np.ndarray
    vectors: Optional[np.ndarray]
    neighbours0: Optional[np.ndarray]
    _params: dict[str, Any]


@lru_cache(maxsize=16)
def _layout(dim: int, M: int, ef_construction: int) -> dict[str, Any]:
    """What hnswlib itself uses for this dim and M (an empty one-element index, never filled)."""
    probe = hnswlib.Index(space="cosine", dim=dim)
    probe.init_index(max_elements=1, M=M, ef_construction=ef_construction, random_seed=0)
    state = dict(probe.__getstate__()[0])
    for key in ("label_lookup_external", "label_lookup_internal", "element_levels", "data_level0", "link_lists"):
        state.pop(key, None)
    return state


def _max_level(mult: float) -> int:
    # hnswlib draws a level as floor(-ln(u) * mult) with u a double in (0, 1): u >= 2**-64 bounds it.
    return int(math.floor(64.0 * math.log(2.0) * mult)) + 1


def _check_header(buf: np.ndarray, dim: int, count: int, M: int, ef_construction: int,
                  size: Optional[int] = None) -> tuple[Any, dict[str, Any]]:
    """The header (at the start of ``buf``), every field of it equal to what hnswlib writes for
    these parameters; ``size`` is the file's (default: ``buf.size``, the whole file)."""
    lay = _layout(dim, M, ef_construction)
    size = buf.size if size is None else size
    if min(size, buf.size) < HEADER_BYTES:
        raise GraphError(f"has {size} bytes, fewer than the {HEADER_BYTES}-byte header")
    head = buf[:HEADER_BYTES].view(_HEADER)[0]
    for name, want in (("M", M), ("max_elements", count), ("cur_element_count", count),
                       ("ef_construction", ef_construction)):
        if int(head[name]) != want:
            raise GraphError(f"header field {name} is {int(head[name])} (M={int(head['M'])}), the manifest says {want}")
    for name in _LAYOUT_FIELDS:
        if int(head[name]) != int(lay[name]):
            raise GraphError(f"header field {name} is {int(head[name])}, hnswlib writes {int(lay[name])} "
                             f"for dim={dim}, M={M}")
    if float(head["mult"]) != float(lay["mult"]):
        raise GraphError(f"header field mult is {float(head['mult'])!r}, hnswlib uses {float(lay['mult'])!r} for M={M}")
    level0_end = HEADER_BYTES + count * int(lay["size_data_per_element"])
    if size < level0_end + 4 * count:
        raise GraphError(f"has {size} bytes, the header's {count} elements need at least {level0_end + 4 * count}")
    return head, lay


def _walk_levels(buf: np.ndarray, n: int, level0_end: int, links_per: int, limit: int, M: int) -> np.ndarray:
    """Each element's level, from the size prefixes of the upper-level link lists (checked)."""
    levels = np.zeros(n, dtype=np.int32)
    pos = level0_end
    size = buf.size
    # Most elements have level 0: a size prefix of 0 right after the previous one. Read the next
    # _RUN prefixes as if all were 0, accept the zero run, and step over one non-empty list at a
    # time: O(N / _RUN + elements above level 0) NumPy calls instead of a loop over all N.
    i = 0
    while i < n:
        m = min(n - i, _RUN, (size - pos) // 4)
        if m <= 0:
            raise GraphError(f"ends inside the link-list size of element {i}")
        prefixes = np.frombuffer(buf, dtype="<u4", count=m, offset=pos)
        nonzero = np.flatnonzero(prefixes)
        zeros = m if nonzero.size == 0 else int(nonzero[0])
        i += zeros
        pos += 4 * zeros
        if nonzero.size == 0:
            continue
        nbytes = int(prefixes[zeros])
        pos += 4
        if nbytes % links_per:
            raise GraphError(f"element {i} has a link-list size of {nbytes} bytes, not a multiple of {links_per}")
        lvl = nbytes // links_per
        if lvl > limit:
            raise GraphError(f"element {i} has level {lvl}; no level above {limit} can be drawn for M={M}")
        if pos + nbytes > size:
            raise GraphError(f"ends inside the link lists of element {i}")
        levels[i] = lvl
        pos += nbytes
        i += 1
    if pos != size:
        raise GraphError(f"has {size - pos} bytes after the last link list")
    return levels


def _upper_link_lists(buf: np.ndarray, level0_end: int, levels: np.ndarray, links_per: int, limit: int) -> np.ndarray:
    """The upper-level link lists of all elements, concatenated without their size prefixes
    (hnswlib's ``link_lists`` state), for the given levels.

    Whatever ``levels`` says, it is checked against the file: the size prefix at the position
    these levels imply must be ``level * links_per`` for every element, and the last list must end
    at the end of the file. So levels remembered from an earlier verification
    (:mod:`draqcore.store.verdicts`) can only be used when they are exactly the file's. Vectorised:
    O(N) NumPy work, no Python loop.
    """
    n = levels.shape[0]
    lv = levels.astype(np.int64)
    if n and (lv.min() < 0 or lv.max() > limit):
        raise GraphError(f"element levels outside 0..{limit}")
    tail = buf.size - level0_end
    if tail % 4 or links_per % 4:
        raise GraphError(f"has {tail} bytes of link lists, not whole 4-byte words")
    words = np.frombuffer(buf, dtype="<u4", count=tail // 4, offset=level0_end)
    step = 1 + lv * (links_per // 4)  # words per element: the size prefix and its lists
    prefix = np.empty(n, dtype=np.int64)
    if n:
        prefix[0] = 0
        np.cumsum(step[:-1], out=prefix[1:])
    end = int(prefix[-1] + step[-1]) if n else 0
    if end != words.size:
        raise GraphError(f"has {4 * (words.size - end)} bytes after the last link list" if end < words.size
                         else "ends inside the link lists")
    if not np.array_equal(words[prefix], (lv * links_per).astype(np.uint32)):
        bad = int(np.flatnonzero(words[prefix] != (lv * links_per).astype(np.uint32))[0])
        raise GraphError(f"element {bad}: link-list size {int(words[prefix[bad]])}, expected {int(lv[bad]) * links_per}")
    keep = np.ones(words.size, dtype=bool)
    keep[prefix] = False
    return words[keep].view(np.uint8)


def _check_top(head: Any, levels: np.ndarray, n: int) -> tuple[int, int]:
    """The header's maxlevel and entry point, checked against the elements' levels."""
    max_level = int(levels.max()) if n else 0
    if int(head["max_level"]) != max_level:
        raise GraphError(f"header field maxlevel is {int(head['max_level'])}, the elements' highest level is {max_level}")
    ep = int(head["enterpoint_node"])
    if ep >= n:
        raise GraphError(f"header field enterpoint_node is {ep}, out of range (>= {n})")
    if int(levels[ep]) != max_level:
        raise GraphError(f"entry point {ep} has level {int(levels[ep])}, not the top level {max_level}")
    return max_level, ep


def _graph(buf: np.ndarray, lay: dict[str, Any], head: Any, n: int, levels: np.ndarray, link_lists: np.ndarray,
           labels: np.ndarray, vectors: Optional[np.ndarray], nbr0: Optional[np.ndarray]) -> HnswGraph:
    max_level, ep = _check_top(head, levels, n)
    level0_end = HEADER_BYTES + n * int(lay["size_data_per_element"])
    params = dict(lay)
    params.update(
        max_elements=n,
        cur_element_count=n,
        max_level=max_level,
        enterpoint_node=ep,
        has_deletions=False,
        ep_added=True,
        label_lookup_external=labels.astype(np.uint64),
        label_lookup_internal=np.arange(n, dtype=np.uint32),
        element_levels=levels.astype(np.int32),
        data_level0=buf[HEADER_BYTES:level0_end].view(np.int8),  # a view: hnswlib copies it
        link_lists=link_lists.view(np.int8),
    )
    if vectors is not None:
        vectors.setflags(write=False)
    return HnswGraph(labels=labels, levels=levels.astype(np.int32), vectors=vectors, neighbours0=nbr0, _params=params)


def parse_graph(data: Union[bytes, bytearray, memoryview], *, dim: int, count: int, M: int,
                ef_construction: int) -> HnswGraph:
    """Check every field of an hnswlib cosine-graph file (see the module notes).

    Parameters
    ----------
    data : bytes-like
        The whole file (not copied: the result's arrays are views of it where they can be).
    dim, count, M, ef_construction : int
        What the index's manifest records (already validated as positive integers).

    Returns
    -------
    HnswGraph

    Raises
    ------
    GraphError
        The first field that is out of range or inconsistent, named with its value.

    Notes
    -----
    Cost: O(file size) NumPy work, no Python loop over elements except the walk over the size
    prefixes of the upper levels (one NumPy call per element above level 0, about 1 in M).
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    head, lay = _check_header(buf, dim, count, M, ef_construction)
    n = count
    per = int(lay["size_data_per_element"])
    max_m0, max_m = int(lay["max_M0"]), int(lay["max_M"])
    links_per = int(lay["size_links_per_element"])
    offset_data, label_offset = int(lay["offset_data"]), int(lay["label_offset"])
    level0_end = HEADER_BYTES + n * per
    block = buf[HEADER_BYTES:level0_end].reshape(n, per)

    # -- level 0 (uint32 views of the blocks: no int64 copies of N x maxM0) -----------------------
    head0 = block[:, :4].view("<u4")[:, 0]
    if (head0 & 0x00FF0000).any():
        bad = int(np.flatnonzero(head0 & 0x00FF0000)[0])
        raise GraphError(f"element {bad} is marked deleted (draqcore never deletes from a saved graph)")
    count0 = (head0 & 0xFFFF).astype(np.int32)
    if (head0 > max_m0).any():
        bad = int(np.flatnonzero(head0 > max_m0)[0])
        raise GraphError(f"element {bad} has {int(head0[bad])} level-0 neighbours, at most {max_m0} fit")
    nbr0_u = block[:, 4 : 4 + 4 * max_m0].view("<u4")
    used0 = np.arange(max_m0, dtype=np.int32)[None, :] < count0[:, None]
    out_of_range = (nbr0_u >= n) & used0
    if out_of_range.any():
        bad = int(np.flatnonzero(out_of_range.any(axis=1))[0])
        raise GraphError(f"element {bad} names a level-0 neighbour id out of range (>= {n})")
    del out_of_range
    nbr0 = nbr0_u.astype(np.int32)  # ids < n <= 2**31 - 1 (hnswlib's ids are u32; counts beyond are refused)
    nbr0[~used0] = -1
    del used0
    vectors = block[:, offset_data:label_offset].view("<f4")  # a strided view, no copy
    if vectors.shape != (n, dim):  # cannot happen once the layout fields matched
        raise GraphError(f"vector block is {vectors.shape}, expected ({n}, {dim})")
    for lo in range(0, n, 1 << 16):
        if not np.isfinite(vectors[lo : lo + (1 << 16)]).all():
            raise GraphError("holds NaN/Inf vector components")
    labels = block[:, label_offset : label_offset + 8].view("<u8")[:, 0].copy()
    if n > 1 and not np.diff(np.sort(labels)).all():  # a sort, not np.unique's hashing: faster here
        raise GraphError("holds duplicate labels")

    # -- upper levels ------------------------------------------------------------------------------
    limit = _max_level(float(lay["mult"]))
    levels = _walk_levels(buf, n, level0_end, links_per, limit, M)
    link_lists = _upper_link_lists(buf, level0_end, levels, links_per, limit)
    if link_lists.size:
        owners = np.flatnonzero(levels > 0)
        # One row per (element, level): count, then max_m ids.
        rows = link_lists.view("<u4").reshape(-1, 1 + max_m)
        row_level = np.concatenate([np.arange(1, int(levels[e]) + 1) for e in owners.tolist()])
        row_owner = np.repeat(owners, levels[owners])
        cnt = rows[:, 0].astype(np.int64)
        if (cnt > max_m).any():
            r = int(np.flatnonzero(cnt > max_m)[0])
            raise GraphError(f"element {int(row_owner[r])} has {int(rows[r, 0])} neighbours at level "
                             f"{int(row_level[r])}, at most {max_m} fit")
        ids = rows[:, 1:].astype(np.int64)
        used = np.arange(max_m)[None, :] < cnt[:, None]
        safe = np.where(used, ids, 0)
        if (safe >= n).any():
            r = int(np.flatnonzero((safe >= n).any(axis=1))[0])
            raise GraphError(f"element {int(row_owner[r])} names a level-{int(row_level[r])} neighbour id out of range (>= {n})")
        low = used & (levels[safe] < row_level[:, None])
        if low.any():
            r = int(np.flatnonzero(low.any(axis=1))[0])
            raise GraphError(f"element {int(row_owner[r])} links at level {int(row_level[r])} to an element "
                             "that does not reach that level")
    return _graph(buf, lay, head, n, levels, link_lists, labels, vectors, nbr0)


def graph_from_verified(data: Union[bytes, bytearray, memoryview], *, dim: int, count: int, M: int,
                        ef_construction: int, levels: np.ndarray) -> HnswGraph:
    """The arrays of a graph file that :func:`parse_graph` passed before, unchanged since.

    For a file whose verdict is remembered (:mod:`draqcore.store.verdicts`): the header is
    checked again in full and ``levels`` (from the verdict) against the file's link-list layout
    (:func:`_upper_link_lists`), but neighbour ids, vectors and labels are not re-checked.
    ``neighbours0`` and ``vectors`` of the result are None.

    Raises
    ------
    GraphError
        The header or the layout differs (the caller then verifies in full).
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    head, lay = _check_header(buf, dim, count, M, ef_construction)
    n = count
    per = int(lay["size_data_per_element"])
    label_offset = int(lay["label_offset"])
    level0_end = HEADER_BYTES + n * per
    block = buf[HEADER_BYTES:level0_end].reshape(n, per)
    labels = block[:, label_offset : label_offset + 8].view("<u8")[:, 0].copy()
    levels = np.asarray(levels)
    if levels.shape != (n,):
        raise GraphError(f"levels of {levels.shape[0]} elements for a graph of {n}")
    link_lists = _upper_link_lists(buf, level0_end, levels, int(lay["size_links_per_element"]),
                                   _max_level(float(lay["mult"])))
    return _graph(buf, lay, head, n, levels.astype(np.int32), link_lists, labels, None, None)


def level0_end(*, dim: int, count: int, M: int, ef_construction: int) -> int:
    """Offset of the upper-level link lists in a graph file of these parameters (the header and
    the level-0 blocks come before)."""
    return HEADER_BYTES + count * int(_layout(dim, M, ef_construction)["size_data_per_element"])


def check_verified_layout(header: Union[bytes, bytearray], tail: Union[bytes, bytearray], size: int, *, dim: int,
                          count: int, M: int, ef_construction: int, levels: np.ndarray) -> None:
    """:func:`graph_from_verified`'s checks from two ranges of the file instead of all of it.

    For a file whose verdict is remembered and that hnswlib is then to read itself
    (:func:`load_graph_file`): the header (its first :data:`HEADER_BYTES`) is checked in full and
    ``levels`` against the upper-level link lists (``tail``: the file from :func:`level0_end` to
    its end, a few percent of it), without reading the level-0 blocks.

    Raises
    ------
    GraphError
        The header or the layout differs (the caller then verifies in full).
    """
    head_buf = np.frombuffer(header, dtype=np.uint8)
    head, lay = _check_header(head_buf, dim, count, M, ef_construction, size=size)
    end = HEADER_BYTES + count * int(lay["size_data_per_element"])
    tail_buf = np.frombuffer(tail, dtype=np.uint8)
    if end + tail_buf.size != size:
        raise GraphError(f"link lists of {tail_buf.size} bytes after offset {end} do not end the {size}-byte file")
    levels = np.asarray(levels)
    if levels.shape != (count,):
        raise GraphError(f"levels of {levels.shape[0]} elements for a graph of {count}")
    link_lists = _upper_link_lists(tail_buf, 0, levels, int(lay["size_links_per_element"]),
                                   _max_level(float(lay["mult"])))
    del link_lists
    _check_top(head, levels, count)


def load_graph_file(path: str, *, dim: int, ef: int) -> "hnswlib.Index":
    """hnswlib's own ``load_index`` of a graph file that was verified before (never of any other).

    hnswlib reads the file into its own buffers once, so the graph is in memory once (through
    :func:`graph_index` it is there twice for a moment: the checked bytes and hnswlib's copy).
    The caller must make sure that hnswlib read the verified bytes (the file's identity is
    unchanged and it is settled: :mod:`draqcore.store.pinned_file`). The index's random
    generator is hnswlib's default one, not the manifest's seed: :func:`reseeded` before adding.

    Raises
    ------
    GraphError
        hnswlib refused the file (it changed since it was verified).
    """
    index = hnswlib.Index(space="cosine", dim=int(dim))
    try:
        index.load_index(path)
    except (RuntimeError, MemoryError, ValueError) as exc:
        raise GraphError(f"hnswlib could not load it ({type(exc).__name__}: {exc})") from None
    index.set_ef(int(ef))
    index.set_num_threads(1)
    return index


def reseeded(state: dict[str, Any], *, ef: int, seed: int) -> "hnswlib.Index":
    """An ``hnswlib.Index`` of a graph's state whose level generator is seeded with ``seed``.

    hnswlib seeds its random generator only when an index is created (``init_index``) or
    unpickled; :func:`load_graph_file` leaves it at hnswlib's default. Insertions into the result
    draw the same levels as insertions into an index made by :func:`graph_index` with the same
    seed, so growing a loaded index gives the same graph whichever way it was loaded.

    Parameters
    ----------
    state : dict
        ``index.__getstate__()[0]`` of the index to re-create (release the index before calling
        this: the graph is then in memory twice at most, the state and the new index).
    ef, seed : int
    """
    params = dict(state)
    params.update(ef=int(ef), seed=int(seed), num_threads=1)
    return hnswlib.Index(params)


def graph_index(graph: HnswGraph, *, ef: int, seed: int) -> "hnswlib.Index":
    """An ``hnswlib.Index`` holding exactly the checked arrays of :func:`parse_graph`.

    Built through hnswlib's pickling constructor, so hnswlib copies these arrays and never reads
    the file.
    """
    params = dict(graph._params)
    params.update(ef=int(ef), seed=int(seed), num_threads=1)
    return hnswlib.Index(params)


def _reach_forward(succ: np.ndarray, start: int) -> np.ndarray:
    """Nodes reachable from ``start`` along ``succ`` (N, k) edges (-1 = none): one pass over the
    frontier's edges per BFS level, a mask instead of a sort."""
    n = succ.shape[0]
    seen = np.zeros(n, dtype=bool)
    seen[start] = True
    frontier = np.array([start])
    while frontier.size:
        nxt = succ[frontier].reshape(-1)
        new = np.zeros(n, dtype=bool)
        new[nxt[nxt >= 0]] = True
        new &= ~seen
        seen |= new
        frontier = np.flatnonzero(new)
    return seen


def _reach_backward(succ: np.ndarray, start: int) -> np.ndarray:
    """Nodes from which ``start`` is reachable: per BFS level one pass over the edges of the nodes
    not reached yet (no reversed adjacency to build, no sort)."""
    n = succ.shape[0]
    # -1 (no edge) points at an extra slot that is never in the frontier.
    target = np.where(succ >= 0, succ, n).astype(np.int32 if n < 2**31 - 1 else np.int64)
    seen = np.zeros(n, dtype=bool)
    seen[start] = True
    frontier = np.zeros(n + 1, dtype=bool)
    frontier[start] = True
    left = n - 1
    while left:
        if left > n // 4:  # most nodes still unseen: one pass over all edges, no gathered copy
            new = frontier[target].any(axis=1) & ~seen
        else:
            rows = np.flatnonzero(~seen)
            new = np.zeros(n, dtype=bool)
            new[rows[frontier[target[rows]].any(axis=1)]] = True
        found = int(np.count_nonzero(new))
        if not found:
            break
        seen |= new
        left -= found
        frontier[:n] = new
    return seen


def level0_outside_component(graph: HnswGraph) -> np.ndarray:
    """Elements outside the level-0 strongly connected component of element 0, ascending.

    Every element of that component reaches every other, so a search that ends its descent
    inside it can find all of them; the elements returned here (usually none, or a handful with
    no incoming links) are the ones to compare with exhaustively. Empty when level 0 is
    strongly connected.
    """
    nbr = graph.neighbours0
    n = nbr.shape[0]
    if n <= 1:
        return np.empty(0, dtype=np.int64)
    inside = _reach_forward(nbr, 0) & _reach_backward(nbr, 0)
    return np.flatnonzero(~inside).astype(np.int64)


def level0_strongly_connected(graph: HnswGraph) -> bool:
    """Whether every element reaches every other along level-0 links.

    hnswlib's search ends its descent at some element and explores level 0 from there; when level
    0 is not strongly connected, some elements can never be found from some starting points (a
    forged graph with emptied link lists, or rarely a real one with many duplicate vectors).
    Cost: O(E) per BFS level (E = level-0 links, the graph's diameter is O(log N) levels).
    """
    nbr = graph.neighbours0
    n = nbr.shape[0]
    if n <= 1:
        return True
    return bool(_reach_forward(nbr, 0).all() and _reach_backward(nbr, 0).all())
