"""The segmentation graph of a written number and its best paths (heuristic over-segmentation with a
recognition-based best path, as in the check reader of LeCun, Bottou, Bengio & Haffner, 1998).

The ink of a line is over-segmented into atoms, ordered left to right (:mod:`inkdigit.vision.segment`).
Nodes are the boundaries between atoms, 0..n. A *character arc* i→j reads atoms i..j-1 as one character; a
*skip arc* i→i+1 drops atom i as a speck. Geometry only prunes arcs that cannot be a digit and adds a mild
log-prior; the recogniser scores every remaining arc, and a path's score is the sum over its arcs of
log p(label) + prior - CHAR_PENALTY (skips cost their own price), so reading a stretch of ink as one digit
or as two is compared on the same scale. The N best paths with distinct texts are kept (k-best Viterbi).

The geometry was made for digits; `LineRules` says what it may assume about another label set (`line_rules`):
symbols such as "." "−" "=" are read from ink of any size, letters are wider, the short-"1" rule is for sets
with the digit 1. The ten digits get `DIGIT_RULES`, which is the behaviour the digit reader always had.

This module is pure arithmetic on boxes and probabilities: no pictures, no model. The constants below were
set on generated numbers (benchmarks/written_numbers.py, seeds 1 and 2, all categories), not on the seed
that is reported; those only lines of symbols use (LEVEL_PRICE, SYNTAX_PRICES) on expressions drawn in the
validation fonts (benchmarks/text_lines.py --fonts validation; docs/experiments.md).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from inkdigit.charsets import DIGIT, LETTER, SYMBOL, kind_of

__all__ = ["DIGIT_RULES", "Arc", "LineRules", "Path", "Syntax", "best_paths", "build_arcs", "build_pair_arcs",
           "line_rules", "skip_costs"]

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
# A digit stands on the line's baseline: a candidate whose foot is more than FLOAT_FROM line heights above it (the
# left half of a 4 written in two strokes, a 7's crossbar, a 5's lifted bar) pays FLOAT_SLOPE per line height
# beyond that. Symbols and letters (descenders, points, operators) are placed by LEVELS instead.
FLOAT_FROM = 0.1
FLOAT_SLOPE = 4.0
# How much a verifier's log-probability that a candidate is one whole character counts, next to the
# recogniser's log-probability of its label.
WHOLE_WEIGHT = 0.5
# Labels tried per character arc when looking for the N best texts.
LABELS_PER_ARC = 3
# Where a line follows a grammar (`Syntax`, e.g. arithmetic): what a reading pays for a symbol that fits, is legal
# but seldom written, or breaks it (indexed by the syntax's verdict). A price, not a ban: ink that clearly says
# "12+" is still read so, and the evaluator says what is wrong with it.
SYNTAX_PRICES = (0.0, 0.5, 1.5)
# Letters are wider than digits (M, W, m, w): a set with letters allows arcs this much wider before the
# width prior and the width limit start.
LETTER_WIDTH = 1.4
# Small letters (a c e m n ...) are about half as tall as a line with capitals, ascenders or descenders: a set with
# letters judges a candidate short from this fraction of SHORT_FROM and PARTIAL_SHORT_FROM.
LETTER_HEIGHT = 0.75
# The recogniser reads a row of small letters as one wide one ("ckb" as "M"), which the whole-character
# verifier alone does not stop (docs/experiments.md): with any label set but the digits, every pair of
# neighbouring marks that barely overlap horizontally (see SEPARATE_OVERLAP) costs APART_PRICE to read as one
# character. A character's own pieces overlap (the dot of an i, the bars of "=", the dots of "÷").
APART_PRICE = 2.0
# Where on the line a symbol's middle may be, as a fraction of the way from the line's top (0) to its baseline
# (1), from the tall marks nearest it: a decimal point sits low, an operator in the middle; so neither is read
# from the detached flag of a 5 or the tail of a 2.
LEVELS: dict[str, tuple[float, float]] = {".": (0.6, 1.3), "+": (0.2, 0.85), "\u2212": (0.2, 0.85),
                                          "×": (0.2, 0.85), "÷": (0.2, 0.85), "=": (0.2, 0.85)}
# Dropping a mark costs at least this where symbols of any size are read: a dot is more likely a decimal point.
DOT_SKIP_BASE = 1.0
# Where symbols of any size are read, reading a small mark of its own (longer side under SPECK_SIZE line heights)
# together with a mark it is level with (its middle within that mark's top and bottom) costs LEVEL_PRICE: in the
# 28x28 form a decimal point beside a "4", or under an 8's flourish, all but vanishes, so neither model sees it; a
# character's own small marks (the dots of "÷", of an i) lie over or under its other strokes, not level with them.
LEVEL_PRICE = 1.0
# Two digits that touch or overlap may be read at once by a pair reader (a 100-class net over pictures of two
# digits, with a class for "not two whole digits"; the holistic reading of touching pairs that Hochuli et al.
# (2018) found to need no cut): a *pair arc* i→j reads atoms i..j-1 as two digits. It is built for groups
# PAIR_MIN_WIDTH..PAIR_MAX_WIDTH line heights wide and at least PAIR_MIN_HEIGHT tall, holding at most MAX_GROUP
# atoms, and pays PAIR_PRICE beyond its two digits' CHAR_PENALTY. Only where ink touches: the group holds both
# sides of a cut, or is one uncut piece of ink, and no two of its separate marks look like two digits side by side
# (see SEPARATE_TALL; a short 1 beside a digit). Digits apart are read one by one, and a pair reader shown three
# (a short 1 beside two touching digits) may read two.
PAIR_MIN_WIDTH = 0.5
PAIR_MAX_WIDTH = 2.4
PAIR_MIN_HEIGHT = 0.6
PAIR_PRICE = 0.0


@dataclass(frozen=True)
class LineRules:
    """What the geometry may assume about the characters of a label set (see `line_rules`)."""

    ones: bool = True  # the short-"1" rule: a narrow mark shorter than its neighbour is a 1 beside it
    apart: float = 0.0  # the price of reading two marks side by side as one character, whatever their heights
    any_size: tuple[bool, ...] = ()  # per label: read from ink of any size (no short prior, even under MIN_HEIGHT)
    levels: tuple[tuple[float, float] | None, ...] = ()  # per label: where its middle may be (see LEVELS)
    width: float = 1.0  # scales MAX_WIDTH and WIDE_FROM
    height: float = 1.0  # scales SHORT_FROM and PARTIAL_SHORT_FROM
    dots: bool = False  # small marks are characters' parts (the dots of i, j, ÷, a decimal point), not specks
    grounded: bool = True  # every character stands on the baseline (digits; see FLOAT_FROM)

    def sized(self, label: int) -> bool:
        """Whether `label` may be read from ink of any size."""
        return bool(self.any_size) and self.any_size[label]

    def placed(self, label: int, level: float) -> bool:
        """Whether `label` may be read from ink whose middle is at `level` on the line (see LEVELS)."""
        span = self.levels[label] if self.levels else None
        return span is None or span[0] <= level <= span[1]


DIGIT_RULES = LineRules()


def line_rules(labels: Sequence[str], kinds: Collection[str] | None = None) -> LineRules:
    """The rules for a model's label list, of which only the labels of `kinds` are read (None: all):
    `DIGIT_RULES` for digits alone; symbols are read from ink of any size; letters allow wider characters; the
    short-"1" rule only where "1" is read; dots are kept wherever anything but digits is read."""
    kinds_of = [kind_of(label) for label in labels]
    read = [kinds is None or k in kinds for k in kinds_of]
    used = {k for k, r in zip(kinds_of, read, strict=True) if r}
    if used <= {DIGIT}:
        return DIGIT_RULES
    sized = tuple(k == SYMBOL and r for k, r in zip(kinds_of, read, strict=True))
    levels = tuple(LEVELS.get(label) if r else None for label, r in zip(labels, read, strict=True))
    return LineRules(ones=DIGIT in used and "1" in labels, apart=APART_PRICE, any_size=sized if any(sized) else (),
                     levels=levels if any(levels) else (), width=LETTER_WIDTH if LETTER in used else 1.0,
                     height=LETTER_HEIGHT if LETTER in used else 1.0,
                     dots=True, grounded=False)


@dataclass(frozen=True)
class Arc:
    """Atoms start..end-1 read as one character: their joint box and the geometric log-prior."""

    start: int
    end: int
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive end)
    prior: float  # <= 0
    small: bool  # shorter than SHORT_FROM: a digit only when the recogniser is sure
    short: float = 0.0  # the part of -prior charged for being short, which a label of any size is spared
    tiny: bool = False  # under MIN_HEIGHT: only a label of any size may be read from it
    level: float = 0.5  # its middle, from the line's top (0) to its baseline (1); computed only for `rules.levels`
    cut: bool = False  # holds one side of a cut through a piece of ink but not the other: part of a larger mark


class Syntax(Protocol):
    """A grammar for a line's labels, read left to right (`inkdigit.mathexpr.ArithmeticSyntax`): each verdict is
    an index into SYNTAX_PRICES (0: fits, 1: legal but seldom written, 2: breaks the grammar)."""

    def start(self) -> Hashable: ...

    def step(self, state: Hashable, label: int) -> tuple[Hashable, int]: ...

    def end(self, state: Hashable) -> int: ...


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


def build_arcs(boxes: np.ndarray, line: float, cuts: list[tuple[int, int, float]],
               rules: LineRules = DIGIT_RULES) -> list[Arc]:
    """The character arcs worth scoring over atoms with `boxes` (int [n,4], left to right), for a line of
    characters `line` pixels tall.

    `cuts` are (left atom, right atom, strokes crossed) for each cut made through one piece of ink: an arc
    holding one side of a cut but not the other pays half its price (a path that makes the cut pays all).
    With labels of any size (`rules.any_size`), arcs shorter than MIN_HEIGHT are kept too, marked `tiny`.
    """
    owner = _owners(len(boxes), cuts)
    priced = _priced(cuts)
    wide_from, tiny_ok = WIDE_FROM * rules.width, any(rules.any_size)
    band = _Band(np.array(_whole_marks(boxes, owner), np.int64).reshape(-1, 4), line) \
        if rules.levels or rules.grounded else None
    arcs = []
    # A single atom may always be read, however wide: it cannot be split.
    for i, j, box, width, height in _groups(boxes, line, MAX_WIDTH * rules.width, single=True):
        part = boxes[i:j]
        gap = _largest_gap(part) / line
        if (height < MIN_HEIGHT and not tiny_ok) or gap > MAX_GAP:
            continue
        split = [cost for left, right, cost in priced if (i <= left < j) != (i <= right < j)]
        short = SHORT_SLOPE * max(0.0, (PARTIAL_SHORT_FROM if split else SHORT_FROM) * rules.height - height)
        pairs, apart, level_with = _side_by_side(part, owner[i:j], line, rules.ones, small_marks=tiny_ok)
        prior = -(WIDE_SLOPE * max(0.0, width - wide_from) + short + GAP_SLOPE * gap + sum(split) / 2
                  + SEPARATE_PRICE * pairs)
        if apart and rules.apart:
            prior -= rules.apart * apart
        if level_with:
            prior -= LEVEL_PRICE * level_with
        if rules.grounded and band is not None:
            prior -= FLOAT_SLOPE * max(0.0, band.above_baseline(box) / line - FLOAT_FROM)
        level = band.level(box) if rules.levels and band is not None else 0.5
        arcs.append(Arc(i, j, box, prior, height < SHORT_FROM, short, height < MIN_HEIGHT, level, bool(split)))
    return arcs


def build_pair_arcs(boxes: np.ndarray, line: float, cuts: list[tuple[int, int, float]],
                    skip: Collection[tuple[int, int]] = ()) -> list[Arc]:
    """The pair arcs worth scoring (see PAIR_MIN_WIDTH) over atoms with `boxes`, for a line `line` pixels tall:
    groups that could be two digits side by side, less the spans (start, end) in `skip`; their prior charges
    gaps and half-made cuts as `build_arcs` does, and being short, but not width."""
    owner = _owners(len(boxes), cuts)
    priced = _priced(cuts)
    arcs = []
    for i, j, box, width, height in _groups(boxes, line, PAIR_MAX_WIDTH, single=False):
        part = boxes[i:j]
        gap = _largest_gap(part) / line
        if width < PAIR_MIN_WIDTH or height < PAIR_MIN_HEIGHT or gap > MAX_GAP or (i, j) in skip:
            continue
        if j > i + 1 and not any(i <= left and right < j for left, right, _ in cuts):
            continue  # separate marks: no ink touches
        if _side_by_side(part, owner[i:j], line)[0]:
            continue  # a digit apart from the touching ones
        split = [cost for left, right, cost in priced if (i <= left < j) != (i <= right < j)]
        short = SHORT_SLOPE * max(0.0, SHORT_FROM - height)
        arcs.append(Arc(i, j, box, -(short + GAP_SLOPE * gap + sum(split) / 2), False, short, cut=bool(split)))
    return arcs


def _owners(n: int, cuts: list[tuple[int, int, float]]) -> list[int]:
    """The piece of ink (component) each of n atoms was cut from: the first atom of its piece."""
    owner = list(range(n))
    for left, right, _ in sorted(cuts):
        owner[right] = owner[left]
    return owner


def _priced(cuts: list[tuple[int, int, float]]) -> list[tuple[int, int, float]]:
    """Each cut (left atom, right atom) with what making it costs: CUT_SLOPE per stroke crossed beyond the first."""
    return [(left, right, CUT_SLOPE * max(0.0, strokes - 1)) for left, right, strokes in cuts]


def _groups(boxes: np.ndarray, line: float, max_width: float, single: bool
            ) -> Iterator[tuple[int, int, tuple[int, int, int, int], float, float]]:
    """Each run of consecutive atoms i..j-1 (at most MAX_GROUP) at most `max_width` line heights wide, or a single
    atom of any width with `single`: (i, j, joint box, width and height in line heights)."""
    n = len(boxes)
    for i in range(n):
        for j in range(i + 1, min(n, i + MAX_GROUP) + 1):
            part = boxes[i:j]
            x0, y0 = int(part[:, 0].min()), int(part[:, 1].min())
            x1, y1 = int(part[:, 2].max()), int(part[:, 3].max())
            width, height = (x1 - x0) / line, (y1 - y0) / line
            if width > max_width and not (single and j == i + 1):
                break  # adding atoms only widens it
            yield i, j, (x0, y0, x1, y1), width, height


def skip_costs(boxes: np.ndarray, line: float, rules: LineRules = DIGIT_RULES) -> np.ndarray:
    """The price of dropping each atom as a speck (float [n])."""
    size = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) / line
    return (DOT_SKIP_BASE if rules.any_size else SKIP_BASE) + SKIP_SLOPE * np.maximum(0.0, size - SPECK_SIZE)


def best_paths(n: int, arcs: list[Arc], probs: np.ndarray, skips: np.ndarray, n_best: int,
               whole: np.ndarray | None = None, rules: LineRules = DIGIT_RULES, syntax: Syntax | None = None,
               pairs: tuple[list[Arc], np.ndarray] | None = None) -> list[Path]:
    """The `n_best` highest-scoring paths from node 0 to node n with distinct texts, best first.

    `probs` [len(arcs), classes] are the recogniser's probabilities for each arc's candidate; `skips` the
    price of dropping each atom (see skip_costs); `whole`, when given, each arc's probability of being exactly
    one whole character (a verifier's), weighted by WHOLE_WEIGHT (not on tiny marks of their own). A label of any size
    (`rules`) is spared an arc's short prior, and only such labels are read from a tiny arc. With a `syntax`, each
    label and the path's end pay SYNTAX_PRICES for how they fit the labels before them. `pairs`, when given, are
    pair arcs (`build_pair_arcs`) and the pair reader's probabilities for them ([M, 101]: "00".."99", not a pair):
    the m-th reads two digits, steps (len(arcs) + m, first) and (len(arcs) + m, second). Each node keeps its best
    partial paths, one per text so far.
    """
    keep = max(1, n_best)
    logp = np.log(np.maximum(np.asarray(probs, np.float64), 1e-12))
    bonus = np.zeros(len(arcs)) if whole is None else WHOLE_WEIGHT * np.log(np.maximum(
        np.asarray(whole, np.float64), 1e-6))
    # A tiny mark of its own (a dot, a flat bar) looks the same in the 28x28 form whether it is a decimal point or
    # the dot of an i, a minus or one bar of "=": the verifier cannot know, so where and how tall it is decides.
    # A tiny piece cut out of a larger mark (the arm of a "+" read as "−") keeps the verifier's say.
    bonus[[k for k, a in enumerate(arcs) if a.tiny and not a.cut]] = 0.0
    labels = np.argsort(-logp, axis=1, kind="stable")[:, :LABELS_PER_ARC]
    incoming: list[list[tuple[int, int]]] = [[] for _ in range(n + 1)]  # per end node: (start node, arc)
    for k, a in enumerate(arcs):
        incoming[a.end].append((a.start, k))
    pair_arcs, pair_logp = (pairs[0], np.log(np.maximum(np.asarray(pairs[1], np.float64)[:, :100], 1e-12))) \
        if pairs is not None and len(pairs[0]) else ([], np.zeros((0, 100)))
    pair_labels = np.argsort(-pair_logp, axis=1, kind="stable")[:, :LABELS_PER_ARC]
    pairs_in: list[list[int]] = [[] for _ in range(n + 1)]
    for m, a in enumerate(pair_arcs):
        pairs_in[a.end].append(m)
    # Per node: partial paths (score, labels so far, steps, syntax state), at most `keep`, distinct labels.
    start = syntax.start() if syntax is not None else None
    nodes: list[list[tuple[float, tuple[int, ...], tuple, Hashable]]] = [[(0.0, (), (), start)]] + [
        [] for _ in range(n)]
    for j in range(1, n + 1):
        options = [(s - float(skips[j - 1]), text, steps + ((j - 1, None),), state)
                   for s, text, steps, state in nodes[j - 1]]
        for i, k in incoming[j]:
            if not nodes[i]:
                continue
            a = arcs[k]
            for c in labels[k].tolist():
                lp = float(logp[k, c])
                if (a.small and lp < math.log(SMALL_MIN_PROBABILITY)) or (a.tiny and not rules.sized(c)) \
                        or not rules.placed(c, a.level):
                    continue
                gain = lp + a.prior + float(bonus[k]) - CHAR_PENALTY + (a.short if rules.sized(c) else 0.0)
                for s, text, steps, state in nodes[i]:
                    after, price = state, 0.0
                    if syntax is not None:
                        after, verdict = syntax.step(state, c)
                        price = SYNTAX_PRICES[verdict]
                    options.append((s + gain - price, text + (c,), steps + ((k, c),), after))
        for m in pairs_in[j]:
            a = pair_arcs[m]
            for c in pair_labels[m].tolist():
                first, second = divmod(c, 10)
                gain = float(pair_logp[m, c]) + a.prior - 2 * CHAR_PENALTY - PAIR_PRICE
                k = len(arcs) + m
                for s, text, steps, state in nodes[a.start]:
                    after, price = state, 0.0
                    if syntax is not None:
                        after, verdict = syntax.step(state, first)
                        after, verdict2 = syntax.step(after, second)
                        price = SYNTAX_PRICES[verdict] + SYNTAX_PRICES[verdict2]
                    options.append((s + gain - price, text + (first, second), steps + ((k, first), (k, second)),
                                    after))
        if j == n and syntax is not None:  # the whole line must end well, too
            options = [(s - SYNTAX_PRICES[syntax.end(state)], text, steps, state)
                       for s, text, steps, state in options]
        nodes[j] = _distinct_best(options, keep)
    return [Path(score, steps) for score, _, steps, _ in nodes[n]]


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


def _side_by_side(part: np.ndarray, owners: list[int], line: float, ones: bool = True, small_marks: bool = False
                  ) -> tuple[int, int, int]:
    """How many neighbouring pairs of marks (whole pieces of ink) in these boxes look like two digits: they
    barely overlap, and both are tall, or (`ones`) one is a stroke like a short "1" beside a taller mark; how
    many marks, left to right, stand beside the marks before them: they barely overlap them horizontally but do
    vertically (the dots of a "÷" lie over its bar, the dot of an i above its stem); and (`small_marks`: where
    symbols are read) how many small marks (longer side under SPECK_SIZE line heights) are level with another
    mark: their middle within its top and bottom (a point may dip below a digit's foot)."""
    if len(set(owners)) < 2:
        return 0, 0, 0
    count = apart = 0
    ordered = sorted(_whole_marks(part, owners), key=lambda m: m[0])
    reach, top, bottom = ordered[0][2], ordered[0][1], ordered[0][3]
    for a, b in zip(ordered[:-1], ordered[1:], strict=True):
        apart += (min(reach, b[2]) - b[0] < SEPARATE_OVERLAP * (b[2] - b[0])
                  and min(bottom, b[3]) - max(top, b[1]) >= SEPARATE_OVERLAP * min(b[3] - b[1], bottom - top))
        reach, top, bottom = max(reach, b[2]), min(top, b[1]), max(bottom, b[3])
        if min(a[2], b[2]) - max(a[0], b[0]) >= SEPARATE_OVERLAP * min(a[2] - a[0], b[2] - b[0]):
            continue
        ha, hb = a[3] - a[1], b[3] - b[1]
        tall = min(ha, hb) >= SEPARATE_TALL * line
        one = ones and any(ONE_TALL * line <= h <= ONE_SHORTER * other and other >= SEPARATE_TALL * line
                  and m[2] - m[0] <= ONE_NARROW * h for m, h, other in ((a, ha, hb), (b, hb, ha)))
        count += tall or one
    level_with = sum(max(m[2] - m[0], m[3] - m[1]) < SPECK_SIZE * line
                     and any(b is not m and b[1] <= (m[1] + m[3]) / 2 <= b[3] for b in ordered)
                     for m in ordered) if small_marks else 0
    return count, apart, level_with


class _Band:
    """The line's top and baseline at any x: straight lines through the tops and the bottoms of the tall marks
    (at least LINE_TALL line heights), each a Theil-Sen fit (the median of the pairwise slopes), so a sloping line
    is followed and one odd mark does not pull it. `build_arcs` gives it whole pieces of ink, not the atoms cut
    out of them: a piece cut from a touching "5" ends where the cut does, not on the baseline."""

    LINE_TALL = 0.7

    def __init__(self, boxes: np.ndarray, line: float) -> None:
        tall = boxes[(boxes[:, 3] - boxes[:, 1]) >= self.LINE_TALL * line]
        if len(tall) == 0:
            tall = boxes
        x = (tall[:, 0] + tall[:, 2]) / 2.0
        self.top = _theil_sen(x, tall[:, 1].astype(np.float64))
        self.bottom = _theil_sen(x, tall[:, 3].astype(np.float64))

    def above_baseline(self, box: tuple[int, int, int, int]) -> float:
        """How far (in pixels) the box's foot is above the baseline, at its middle (negative: below it)."""
        x = (box[0] + box[2]) / 2
        return self.bottom[0] * x + self.bottom[1] - box[3]

    def level(self, box: tuple[int, int, int, int]) -> float:
        """Where the box's middle is: 0 at the line's top, 1 on its baseline."""
        x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        top, bottom = self.top[0] * x + self.top[1], self.bottom[0] * x + self.bottom[1]
        return (y - top) / max(bottom - top, 1.0)


def _whole_marks(boxes: np.ndarray, owner: list[int]) -> list[list[int]]:
    """The boxes of the pieces of ink the atoms were cut from, in the order each first appears: each the union of
    its atoms' boxes."""
    marks: dict[int, list[int]] = {}
    for box, o in zip(boxes.tolist(), owner, strict=True):
        m = marks.setdefault(o, list(box))
        m[0], m[1], m[2], m[3] = min(m[0], box[0]), min(m[1], box[1]), max(m[2], box[2]), max(m[3], box[3])
    return list(marks.values())


def _theil_sen(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of the line through the points (x, y): the median pairwise slope, and the median
    intercept under it."""
    i, j = np.triu_indices(len(x), 1)
    far = x[j] != x[i]
    slope = float(np.median((y[j] - y[i])[far] / (x[j] - x[i])[far])) if far.any() else 0.0
    return slope, float(np.median(y - slope * x))


def _largest_gap(part: np.ndarray) -> float:
    """The widest run of columns with none of these boxes (0 when their horizontal extents chain up)."""
    order = np.argsort(part[:, 0], kind="stable")
    reach, gap = int(part[order[0], 2]), 0
    for x0, x1 in part[order, 0:3:2][1:].tolist():
        gap = max(gap, x0 - reach)
        reach = max(reach, x1)
    return float(gap)
