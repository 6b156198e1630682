"""8-connected components of a boolean mask, by union-find over its horizontal runs.

A drawn mask has far fewer runs (row, start, end) than pixels, so the components cost a few whole-array
NumPy calls, and Python only for the few runs that join two components (the bottom of a loop, a V).
"""

from __future__ import annotations

import numpy as np

__all__ = ["component_stats", "label_runs", "mask_runs", "paint_runs"]


def mask_runs(mask: np.ndarray) -> np.ndarray:
    """Horizontal runs of True as int [n,3] (row, start, end exclusive), row-major order."""
    h, w = mask.shape
    padded = np.zeros((h, w + 2), np.int8)
    padded[:, 1:-1] = mask
    flat = padded.ravel()
    d = flat[1:] - flat[:-1]  # +1 before a run's first pixel, -1 at its last; rows end in padding
    starts = (d == 1).nonzero()[0]
    runs = np.empty((len(starts), 3), np.intp)
    np.floor_divide(starts, w + 2, out=runs[:, 0])
    offset = runs[:, 0] * (w + 2)
    np.subtract(starts, offset, out=runs[:, 1])
    np.subtract((d == -1).nonzero()[0], offset, out=runs[:, 2])
    return runs


def label_runs(runs: np.ndarray, width: int) -> tuple[np.ndarray, int]:
    """8-connected component label (0..k-1) of each run, ordered by first appearance."""
    n = len(runs)
    if n == 0:
        return np.zeros(0, np.intp), 0
    rows, starts, ends = runs[:, 0], runs[:, 1], runs[:, 2]
    key = width + 2
    base = rows * key
    prev = base - key
    # Runs a (row y-1) touching run b (row y), diagonals included: a.start <= b.end and b.start <= a.end.
    # They are lo[b]..hi[b]-1, as runs are in row-major order.
    lo = np.searchsorted(base + ends, prev + starts, side="left")
    hi = np.searchsorted(base + starts, prev + ends, side="right")
    count = hi - lo
    if np.count_nonzero(count) == n - 1 and np.count_nonzero(count > 1) == 0:
        return np.zeros(n, np.intp), 1  # one run starts it, each other one hangs from one above: one stroke
    # Each run joins the first run it touches in the row above: a forest whose parents come before their
    # children, flattened by pointer jumping (a tree is at most as deep as the rows it spans).
    parent = np.where(count > 0, lo, np.arange(n))
    for _ in range(int(rows[-1] - rows[0] + 1).bit_length()):
        parent = parent[parent]
    # A run touching two or more runs above joins their trees (the bottom of a loop, a V): few, so a
    # union-find in Python over the tree roots; the smaller root wins, keeping first-appearance order.
    joined: dict[int, int] = {}

    def root(x: int) -> int:
        while x in joined:
            x = joined[x]
        return x

    forks = np.flatnonzero(count > 1)
    if forks.size:
        for b, first, last in zip(forks.tolist(), lo[forks].tolist(), hi[forks].tolist(), strict=True):
            rb = root(int(parent[b]))
            for a in range(first + 1, last):
                ra = root(int(parent[a]))
                if ra < rb:
                    joined[rb] = ra
                    rb = ra
                elif ra > rb:
                    joined[ra] = rb
        if joined:
            remap = np.arange(n)
            remap[list(joined)] = [root(r) for r in joined]
            parent = remap[parent]
    is_root = parent == np.arange(n)
    compact = np.cumsum(is_root) - 1
    return compact[parent], int(compact[-1]) + 1


def component_stats(runs: np.ndarray, label: np.ndarray, k: int) -> np.ndarray:
    """int [k,5]: x0, y0, x1, y1 (exclusive), area."""
    if k == 1:  # the common case: one stroke
        return np.array([[runs[:, 1].min(), runs[0, 0], runs[:, 2].max(), runs[-1, 0] + 1,
                          (runs[:, 2] - runs[:, 1]).sum()]], np.int64)
    stats = np.empty((k, 5), np.int64)
    stats[:, 0] = np.iinfo(np.int64).max
    stats[:, 1] = np.iinfo(np.int64).max
    stats[:, 2] = -1
    stats[:, 3] = -1
    np.minimum.at(stats[:, 0], label, runs[:, 1])
    np.minimum.at(stats[:, 1], label, runs[:, 0])
    np.maximum.at(stats[:, 2], label, runs[:, 2])
    np.maximum.at(stats[:, 3], label, runs[:, 0] + 1)
    stats[:, 4] = np.bincount(label, weights=runs[:, 2] - runs[:, 1], minlength=k).astype(np.int64)
    return stats


def paint_runs(shape: tuple[int, int], runs: np.ndarray) -> np.ndarray:
    """Boolean mask from runs (runs in one row never share a start or end column)."""
    h, w = shape
    d = np.zeros((h, w + 1), np.int8)
    d[runs[:, 0], runs[:, 1]] = 1
    d[runs[:, 0], runs[:, 2]] = -1
    return np.cumsum(d, axis=1, dtype=np.int8)[:, :w] > 0
