"""The segmentation graph of a written number and its best paths (heuristic over-segmentation with a
recognition-based best path, as in the check reader of LeCun, Bottou, Bengio & Haffner, 1998).

The ink of a line is over-segmented into atoms, ordered left to right (:mod:`inkdigit.vision.segment`).
Nodes are the boundaries between atoms, 0..n. A *character arc* i→j reads atoms i..j-1 as one digit; a
*skip arc* i→i+1 drops atom i as a speck. Geometry only prunes arcs that cannot be a digit and adds a mild
log-prior; the recogniser scores every remaining arc, and a path's score is the sum over its arcs of
log p(label) + prior - CHAR_PENALTY (skips cost their own price), so reading a stretch of ink as one digit
or as two is compared on the same scale. The N best paths with distinct texts are kept (k-best Viterbi).

This module is pure arithmetic on boxes and probabilities: no pictures, no model. The constants below were
set on generated numbers (benchmarks/written_numbers.py, seeds 1 and 2, all categories), not on the seed
that is reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Arc", "Path", "best_paths", "build_arcs", "skip_costs"]

# Every digit read costs this much (in log-probability): splitting a stretch of ink into two digits must
# buy more than this in the recogniser's confidence, so one sure digit is not read as two sure halves.
CHAR_PENALTY = 0.3
# Arcs are pruned when they join atoms over MAX_WIDTH line heights wide, are shorter than MIN_HEIGHT, join
# more than MAX_GROUP atoms, or have a horizontal gap of more than MAX_GAP line heights between their atoms
# (digits drawn in several strokes overlap horizontally; separate digits have white space between them).
MAX_WIDTH = 1.6
MIN_HEIGHT = 0.3
MAX_GROUP = 8
MAX_GAP = 0.2
# Log-prior slopes: per line height of width beyond WIDE_FROM, of height short of SHORT_FROM, of gap.
WIDE_FROM, WIDE_SLOPE = 0.9, 2.0
SHORT_FROM, SHORT_SLOPE = 0.6, 2.0
GAP_SLOPE = 4.0
# A candidate shorter than SHORT_FROM (a half-height "1", but also a crossbar or a hook) is a digit only
# when the recogniser is at least this sure of it.
SMALL_MIN_PROBABILITY = 0.5
# Dropping an atom as a speck: SKIP_BASE, plus SKIP_SLOPE per line height of its longer side beyond
# SPECK_SIZE, so a dot is cheap to drop and a digit-sized mark practically never is.
SKIP_BASE = 0.5
SPECK_SIZE = 0.3
SKIP_SLOPE = 40.0
# Cutting through ink costs CUT_SLOPE per stroke crossed beyond the first (touching digits meet in one
# stroke; a cut through a loop crosses two).
CUT_SLOPE = 1.0
# A candidate cut out of a larger piece of ink is judged short from this height (at SHORT_SLOPE): touching
# digits are whole digits side by side, while the tail or hook cut off one digit is short.
PARTIAL_SHORT_FROM = 0.8
# Two tall marks side by side (each at least SEPARATE_TALL line heights, overlapping horizontally by less than
# SEPARATE_OVERLAP of the narrower) are usually two digits, not the strokes of one: reading them as one costs
# SEPARATE_PRICE.
SEPARATE_TALL = 0.8
SEPARATE_OVERLAP = 0.3
SEPARATE_PRICE = 0.5
# Path scores are over-confident log-likelihoods (the recogniser is sure of fragments too): how much likelier
# one reading is than another is exp(score difference / PATH_TEMPERATURE), the temperature that best predicts
# which of the N best readings is right on the tuning numbers.
PATH_TEMPERATURE = 0.2
# A narrow upright mark at least ONE_TALL line heights tall, at most ONE_NARROW of its height wide and at most
# ONE_SHORTER of its neighbour's height, beside a tall mark, is a short "1" beside a digit, not a stroke of it.
ONE_TALL = 0.35
ONE_NARROW = 0.35
ONE_SHORTER = 0.75
# How much a verifier's log-probability that a candidate is one whole character counts, next to the
# recogniser's log-probability of its label.
WHOLE_WEIGHT = 0.5
# Labels tried per character arc when looking for the N best texts.
LABELS_PER_ARC = 3


@dataclass(frozen=True)
class Arc:
    """Atoms start..end-1 read as one character: their joint box and the geometric log-prior."""

    start: int
    end: int
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive end)
    prior: float  # <= 0
    small: bool  # shorter than SHORT_FROM: a digit only when the recogniser is sure


@dataclass(frozen=True)
class Path:
    """One reading: its score and its steps, each (arc index, label) or (atom index, None) for a skip."""

    score: float
    steps: tuple[tuple[int, int | None], ...]

    @property
    def labels(self) -> tuple[int, ...]:
        return tuple(label for _, label in self.steps if label is not None)

    def likelihood(self, best: Path) -> float:
        """How likely this reading is relative to `best` (1 for the best itself)."""
        return math.exp(min(0.0, self.score - best.score) / PATH_TEMPERATURE)


def build_arcs(boxes: np.ndarray, line: float, cuts: list[tuple[int, int, float]]) -> list[Arc]:
    """The character arcs worth scoring over atoms with `boxes` (int [n,4], left to right), for a line of
    digits `line` pixels tall.

    `cuts` are (left atom, right atom, strokes crossed) for each cut made through one piece of ink: an arc
    holding one side of a cut but not the other pays half its price (a path that makes the cut pays all).
    """
    n = len(boxes)
    owner = list(range(n))  # the piece of ink (component) each atom was cut from
    for left, right, _ in sorted(cuts):
        owner[right] = owner[left]
    priced = [(left, right, CUT_SLOPE * max(0.0, strokes - 1)) for left, right, strokes in cuts]
    arcs = []
    for i in range(n):
        for j in range(i + 1, min(n, i + MAX_GROUP) + 1):
            part = boxes[i:j]
            x0, y0 = int(part[:, 0].min()), int(part[:, 1].min())
            x1, y1 = int(part[:, 2].max()), int(part[:, 3].max())
            width, height = (x1 - x0) / line, (y1 - y0) / line
            if width > MAX_WIDTH and j > i + 1:
                break  # adding atoms only widens it; a single atom may always be read (it cannot be split)
            gap = _largest_gap(part) / line
            if height < MIN_HEIGHT or gap > MAX_GAP:
                continue
            split = [cost for left, right, cost in priced if (i <= left < j) != (i <= right < j)]
            short = PARTIAL_SHORT_FROM if split else SHORT_FROM
            prior = -(WIDE_SLOPE * max(0.0, width - WIDE_FROM) + SHORT_SLOPE * max(0.0, short - height)
                      + GAP_SLOPE * gap + sum(split) / 2 + SEPARATE_PRICE * _side_by_side(part, owner[i:j], line))
            arcs.append(Arc(i, j, (x0, y0, x1, y1), prior, height < SHORT_FROM))
    return arcs


def skip_costs(boxes: np.ndarray, line: float) -> np.ndarray:
    """The price of dropping each atom as a speck (float [n])."""
    size = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) / line
    return SKIP_BASE + SKIP_SLOPE * np.maximum(0.0, size - SPECK_SIZE)


def best_paths(n: int, arcs: list[Arc], probs: np.ndarray, skips: np.ndarray, n_best: int,
               whole: np.ndarray | None = None) -> list[Path]:
    """The `n_best` highest-scoring paths from node 0 to node n with distinct texts, best first.

    `probs` [len(arcs), classes] are the recogniser's probabilities for each arc's candidate; `skips` the
    price of dropping each atom (see skip_costs); `whole`, when given, each arc's probability of being exactly
    one whole character (a verifier's), weighted by WHOLE_WEIGHT. Each node keeps its best partial paths, one
    per text so far.
    """
    keep = max(1, n_best)
    logp = np.log(np.maximum(np.asarray(probs, np.float64), 1e-12))
    bonus = np.zeros(len(arcs)) if whole is None else WHOLE_WEIGHT * np.log(np.maximum(
        np.asarray(whole, np.float64), 1e-6))
    labels = np.argsort(-logp, axis=1, kind="stable")[:, :LABELS_PER_ARC]
    incoming: list[list[tuple[int, int]]] = [[] for _ in range(n + 1)]  # per end node: (start node, arc)
    for k, a in enumerate(arcs):
        incoming[a.end].append((a.start, k))
    # Per node: partial paths (score, labels so far, steps), at most `keep`, distinct labels.
    nodes: list[list[tuple[float, tuple[int, ...], tuple]]] = [[(0.0, (), ())]] + [[] for _ in range(n)]
    for j in range(1, n + 1):
        options = [(s - float(skips[j - 1]), text, steps + ((j - 1, None),)) for s, text, steps in nodes[j - 1]]
        for i, k in incoming[j]:
            if not nodes[i]:
                continue
            a = arcs[k]
            for c in labels[k].tolist():
                lp = float(logp[k, c])
                if a.small and lp < math.log(SMALL_MIN_PROBABILITY):
                    continue
                gain = lp + a.prior + float(bonus[k]) - CHAR_PENALTY
                options += [(s + gain, text + (c,), steps + ((k, c),)) for s, text, steps in nodes[i]]
        nodes[j] = _distinct_best(options, keep)
    return [Path(score, steps) for score, _, steps in nodes[n]]


def _distinct_best(options: list, keep: int) -> list:
    """The `keep` best options with distinct label sequences."""
    out, seen = [], set()
    for option in sorted(options, key=lambda o: o[0], reverse=True):
        if option[1] in seen:
            continue
        seen.add(option[1])
        out.append(option)
        if len(out) == keep:
            break
    return out


def _side_by_side(part: np.ndarray, owners: list[int], line: float) -> int:
    """How many neighbouring pairs of marks (whole pieces of ink) in these boxes look like two digits: they
    barely overlap, and both are tall, or one is a stroke like a short "1" beside a taller mark."""
    if len(set(owners)) < 2:
        return 0
    marks: dict[int, list[int]] = {}
    for box, o in zip(part.tolist(), owners, strict=True):
        m = marks.setdefault(o, list(box))
        m[0], m[1], m[2], m[3] = min(m[0], box[0]), min(m[1], box[1]), max(m[2], box[2]), max(m[3], box[3])
    count = 0
    ordered = sorted(marks.values(), key=lambda m: m[0])
    for a, b in zip(ordered[:-1], ordered[1:], strict=True):
        if min(a[2], b[2]) - max(a[0], b[0]) >= SEPARATE_OVERLAP * min(a[2] - a[0], b[2] - b[0]):
            continue
        ha, hb = a[3] - a[1], b[3] - b[1]
        tall = min(ha, hb) >= SEPARATE_TALL * line
        one = any(ONE_TALL * line <= h <= ONE_SHORTER * other and other >= SEPARATE_TALL * line
                  and m[2] - m[0] <= ONE_NARROW * h for m, h, other in ((a, ha, hb), (b, hb, ha)))
        count += tall or one
    return count


def _largest_gap(part: np.ndarray) -> float:
    """The widest run of columns with none of these boxes (0 when their horizontal extents chain up)."""
    order = np.argsort(part[:, 0], kind="stable")
    reach, gap = int(part[order[0], 2]), 0
    for x0, x1 in part[order, 0:3:2][1:].tolist():
        gap = max(gap, x0 - reach)
        reach = max(reach, x1)
    return float(gap)
