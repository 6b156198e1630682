"""Read a written number ("2026"), or any line of characters: the recogniser, not geometry, decides which ink
is one character.

The ink is over-segmented into atoms, ordered left to right: its connected components (see
:mod:`inkdigit.vision.ink`), wide ones cut into pieces along the seams that cross the least ink and along the
paths a drop falls from the valleys of their top contour or rises from those of their bottom one (where
touching digits may meet); or the caller's own atoms (one per group of pen strokes), which are never cut.
Every group of consecutive atoms that could be one digit is preprocessed like a single digit and scored by the
recogniser, all in one batch; the best paths through the segmentation graph (:mod:`inkdigit.vision.lattice`)
are the readings. Where that reading is in doubt, a pair reader may also read each group of touching ink whole,
as two digits (`pair_candidates`). The recogniser is passed in (`Score`): this module knows no model;
`LineRules` (from the model's labels, `lattice.line_rules`) say what the geometry may assume about its
characters; the default, the digits' rules, is the number reader as it always was.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from inkdigit.errors import ImageError, NoInkError
from inkdigit.vision.decode import to_picture
from inkdigit.vision.ink import WORK_SIDE, Ink, analyse_ink, ink_crop
from inkdigit.vision.lattice import (
    DIGIT_RULES,
    Arc,
    LineRules,
    Path,
    Syntax,
    best_paths,
    build_arcs,
    build_pair_arcs,
    skip_costs,
)
from inkdigit.vision.normalise import model_input
from inkdigit.vision.ops import dilate_square

__all__ = ["MAX_MARKS", "Candidates", "DigitPiece", "Reading", "Score", "candidates", "read_number", "segment"]

Score = Callable[[np.ndarray], np.ndarray]  # float32 [N,28,28] model inputs -> probabilities [N,classes]

# More separate marks than this is not a number (a dotted texture, a page of text), and it bounds the work.
MAX_MARKS = 60
# Marks at least this fraction of the tallest one's height are full-height digits (see _line_height).
LINE_TALL = 0.7
# Marks whose longer side is under this fraction of the line height are dropped before reading: noise.
SPECK = 0.12
# The ink of a line keeps components down to LINE_AREA of the largest one's area (a single digit's ink keeps
# down to ink.SPECK_AREA): a short 1 drawn with a fine pen beside a bold 0 has a few percent of its area, and
# the size rule above, not the area, tells it from dust.
LINE_AREA = 0.01
# Where dots are parts of characters (`LineRules.dots`: i, j, ÷, a decimal point), only marks under DOT_SPECK
# of the line height are noise, and the ink keeps components down to DOT_AREA of the largest one's area.
DOT_SPECK = 0.04
DOT_AREA = 0.002
# A component is cut into candidate pieces when it is at least CUT_FROM line heights wide and CUT_TALL
# tall (touching digits are whole digits side by side; a long flat stroke is a bar); each cut leaves
# at least MIN_PIECE of a line height on either side, cuts are MIN_SEP apart, one per CUT_EVERY of width.
CUT_FROM = 0.6
CUT_TALL = 0.6
MIN_PIECE = 0.12
MIN_SEP = 0.1
CUT_EVERY = 0.2
# A seam pays this much (in pixels of ink) for each step sideways: of two cuts through as much ink, the
# straighter.
SEAM_TURN = 0.1
# Drop-fall cuts join the seams in components at least FALL_WIDE line heights wide (two digits side by side;
# most single digits are narrower): one falls from each valley of the top contour that is at least DROP_DEPTH
# of the component's height below the highest ink within DROP_WINDOW of its height on either side, and one
# rises the same way from each valley of the bottom contour; each is kept when its middle is at least DROP_SEP
# line heights from every cut already taken. Where a digit leans into its neighbour, the cheapest seam runs
# through a thin stroke elsewhere; the fall follows the gap between the two from where it opens.
FALL_WIDE = 0.9
DROP_DEPTH = 0.05
DROP_WINDOW = 0.3
DROP_SEP = 0.1
# A group of atoms the whole-digit verifier is at least this sure is one whole digit is not read as a pair too.
PAIR_WHOLE = 0.5
# A reading is sure of itself, and the pair reader not asked, when every character has at least SURE_CHAR of the
# recogniser's probability (and PAIR_WHOLE of the verifier's) and no other reading is SURE_ALTERNATIVE as likely.
SURE_CHAR = 0.9
SURE_ALTERNATIVE = 0.05
# The best reading's digits must average (geometric mean) at least this probability, or it is not a number.
UNREADABLE = 0.2


@dataclass
class DigitPiece:
    """One digit of a number: its box in the source image's pixels and the 28x28 model input."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive end), source pixels
    image: np.ndarray  # float32 [28,28] in [0,1], white on black


@dataclass
class Reading:
    """One way to read the number: a label index and the recogniser's probabilities for each digit."""

    labels: list[int]
    probabilities: np.ndarray  # float32 [len(labels), classes]
    pieces: list[DigitPiece]
    likelihood: float  # relative to the best reading's (1 for the best)


def read_number(source: Any, score: Score, *, n_best: int = 3, atoms: Sequence[np.ndarray] | None = None,
                max_side: int = 4096, verify: Score | None = None, rules: LineRules = DIGIT_RULES,
                syntax: Syntax | None = None, pair: Score | None = None) -> list[Reading]:
    """The `n_best` readings of a written number (or, with another label set's `rules`, a line of characters)
    with distinct texts, best first.

    `score` is the recogniser. `verify`, when given, is a second model that says how likely each candidate is
    to be exactly one whole character (probabilities [N,2]: not one, one); its log-probability joins each
    candidate's score. `atoms`, when given, are boolean masks over the picture as shown, one per group of
    strokes that belongs to one character: they are grouped but never cut. `syntax`, when given, is a grammar the
    line follows (arithmetic: `inkdigit.mathexpr.ArithmeticSyntax`), which readings that break it pay for.
    `pair`, when given, is the pair reader (float32 [N,28,56] pictures -> probabilities [N,101]: "00".."99", not
    a pair; see `pair_candidates`): groups of atoms that could be two touching digits are also read whole, as two
    (not with given `atoms`: their strokes already say which ink is one character).
    Raises NoInkError when the image is blank and ImageError when it cannot be read as a number.
    """
    found = candidates(source, atoms=atoms, max_side=max_side, rules=rules)
    arcs, batch = found.arcs, found.images
    probs = score(np.stack(batch)) if batch else np.zeros((0, 10), np.float32)
    whole = verify(np.stack(batch))[:, 1] if batch and verify is not None else None
    skips = skip_costs(found.boxes, found.line.height, rules)
    paths = best_paths(len(found.line.atoms), arcs, probs, skips, n_best, whole=whole, rules=rules, syntax=syntax)
    pairs, pictures = None, []
    # The pair reader is asked only where the one-by-one reading is in doubt; a given atom is one character's
    # strokes, never two digits.
    if pair is not None and atoms is None and _in_doubt(paths, probs, whole):
        pair_arcs, pictures = pair_candidates(found, whole)
        if pair_arcs:
            pairs = (pair_arcs, pair(np.stack(pictures)))
            paths = best_paths(len(found.line.atoms), arcs, probs, skips, n_best, whole=whole, rules=rules,
                               syntax=syntax, pairs=pairs)
    readings = [_reading(found.ink, p.steps, p.likelihood(paths[0]), arcs, batch, probs, pairs, pictures)
                for p in paths]
    best = readings[0] if readings else None
    digits = rules == DIGIT_RULES
    if best is None or not best.labels:
        raise ImageError("no number found: no mark looks like a digit (only dots, specks or stray strokes)" if digits
                         else "nothing to read: no mark looks like a character (only dots, specks or stray strokes)")
    chosen = best.probabilities[np.arange(len(best.labels)), best.labels]
    if math.exp(float(np.log(np.maximum(chosen, 1e-12)).mean())) < UNREADABLE:
        raise ImageError("cannot read this as a number: no digit is clear" if digits
                         else "cannot read this line: no character is clear")
    return [r for r in readings if r.labels]


def _in_doubt(paths: list[Path], probs: np.ndarray, whole: np.ndarray | None) -> bool:
    """Whether the best reading has a character the recogniser gives less than SURE_CHAR, or the verifier less
    than PAIR_WHOLE, or a second reading at least SURE_ALTERNATIVE as likely: where touching digits may be
    misread."""
    if not paths:
        return True
    if len(paths) > 1 and paths[1].likelihood(paths[0]) >= SURE_ALTERNATIVE:
        return True
    chars = [(k, c) for k, c in paths[0].steps if c is not None]
    return any(probs[k, c] < SURE_CHAR or (whole is not None and whole[k] < PAIR_WHOLE) for k, c in chars)


@dataclass
class Candidates:
    """A line's over-segmentation: its atoms and every group of them worth reading as one character."""

    ink: Ink
    line: _Line
    boxes: np.ndarray  # int [atoms, 4]: each atom's box, analysis pixels
    arcs: list[Arc]  # the groups with a readable model input, in the order of `images`
    images: list[np.ndarray]  # float32 [28,28] model input of each arc

    def mask(self, k: int | Arc) -> tuple[tuple[int, int, int, int], np.ndarray]:
        """Arc k's box and ink (bool, the box's shape) in analysis pixels; or those of an arc given itself (a pair
        arc, see `pair_candidates`)."""
        a = self.arcs[k] if isinstance(k, int) else k
        return a.box, _union(self.line.atoms[a.start : a.end], a.box)


def candidates(source: Any, *, atoms: Sequence[np.ndarray] | None = None, max_side: int = 4096,
               rules: LineRules = DIGIT_RULES) -> Candidates:
    """Over-segment a written number (a line of characters) into atoms and list the candidate characters, each
    preprocessed like a single digit (for read_number, and for training a model that judges them)."""
    # Digits of a number are smaller than a lone digit in the same picture: analysed at up to 512 px a side.
    found = analyse_ink(*to_picture(source, max_side), WORK_SIDE, min_area=DOT_AREA if rules.dots else LINE_AREA)
    line = _given_atoms(found, atoms) if atoms is not None else _component_atoms(found, rules.dots)
    boxes = np.array([a.box for a in line.atoms], np.int64).reshape(-1, 4)
    arcs = build_arcs(boxes, line.height, line.cuts, rules)
    images = [_candidate(found, line.atoms[a.start : a.end], a.box) for a in arcs]
    usable = [k for k, im in enumerate(images) if im is not None]
    return Candidates(found, line, boxes, [arcs[k] for k in usable], [images[k] for k in usable])


def pair_candidates(found: Candidates, whole: np.ndarray | None = None) -> tuple[list[Arc], list[np.ndarray]]:
    """The groups of a line's atoms that could be two digits side by side (`lattice.build_pair_arcs`) with a
    readable picture, and their pictures: float32 [28,56], the pair at one digit's scale (the pair reader's
    input). `whole`, when given, is the verifier's probability that each of `found.arcs` is one whole digit: a
    group it is sure of (at least PAIR_WHOLE) is not drawn as a pair."""
    sure = set() if whole is None else {(a.start, a.end) for a, w in zip(found.arcs, whole.tolist(), strict=True)
                                        if w >= PAIR_WHOLE}
    arcs = build_pair_arcs(found.boxes, found.line.height, found.line.cuts, skip=sure)
    images = [_candidate(found.ink, found.line.atoms[a.start : a.end], a.box, wide=2) for a in arcs]
    usable = [k for k, im in enumerate(images) if im is not None]
    return [arcs[k] for k in usable], [images[k] for k in usable]


def segment(source: Any, score: Score, *, atoms: Sequence[np.ndarray] | None = None,
            max_side: int = 4096, verify: Score | None = None) -> list[DigitPiece]:
    """A written number -> its digits, left to right, each preprocessed like a single digit (the pieces of
    the best reading; see read_number, also for `verify`)."""
    return read_number(source, score, n_best=1, atoms=atoms, max_side=max_side, verify=verify)[0].pieces


@dataclass
class _Atom:
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive end), analysis pixels
    mask: np.ndarray  # bool, the box's shape: this atom's ink


@dataclass
class _Line:
    atoms: list[_Atom]  # left to right
    height: float  # of a full-height digit, analysis pixels
    cuts: list[tuple[int, int, float]]  # (left atom, right atom, strokes it crosses) per cut through ink


def _component_atoms(found: Ink, dots: bool = False) -> _Line:
    """Connected components as atoms, specks dropped (only the smallest where `dots` are characters' parts),
    wide ones cut where touching characters may meet."""
    comps = found.comps
    height = _line_height(comps[:, 3] - comps[:, 1])
    size = np.maximum(comps[:, 2] - comps[:, 0], comps[:, 3] - comps[:, 1])
    kept = np.flatnonzero(size >= (DOT_SPECK if dots else SPECK) * height)
    if len(kept) > MAX_MARKS:
        raise ImageError(f"too many separate marks to read as {'a line' if dots else 'a number'} ({len(kept)}; "
                         f"at most {MAX_MARKS})")
    labels = _label_image(found)
    stroke = _stroke_width(found.mask)
    masks = {c: labels[comps[c, 1] : comps[c, 3], comps[c, 0] : comps[c, 2]] == c + 1 for c in kept.tolist()}
    wide = [c for c in kept.tolist() if comps[c, 2] - comps[c, 0] >= CUT_FROM * height
            and comps[c, 3] - comps[c, 1] >= CUT_TALL * height]
    seams = dict(zip(wide, _seams([masks[c] for c in wide], height, stroke), strict=True)) if wide else {}
    pieces: list[tuple[_Atom, int, float]] = []  # atom, component, strokes crossed by the cut at its left
    for c in kept.tolist():
        x0, y0 = int(comps[c, 0]), int(comps[c, 1])
        mask = masks[c]
        h, w = mask.shape
        cols = np.arange(w)
        edges = [(np.zeros(h, np.intp), 0.0), *seams.get(c, []), (np.full(h, w, np.intp), 0.0)]
        for (a, strokes), (b, _) in zip(edges[:-1], edges[1:], strict=True):
            part = mask & (cols >= a[:, None]) & (cols < b[:, None])
            rows, xs = np.flatnonzero(part.any(axis=1)), np.flatnonzero(part.any(axis=0))
            if rows.size == 0:
                continue
            r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(xs[0]), int(xs[-1]) + 1
            pieces.append((_Atom((x0 + c0, y0 + r0, x0 + c1, y0 + r1), part[r0:r1, c0:c1]), c, strokes))
    # Left to right by component (the x-centre of its box), a component's pieces together and in order: two
    # components may overlap horizontally (a 7's bar over the next digit), and their pieces must not mingle.
    # Where dots are parts (a line of letters or symbols), a small mark within a long run of touching characters
    # goes where it is, between that run's pieces: each piece by its own x-centre, a component's in order.
    centre = comps[:, 0] + comps[:, 2]
    if dots:
        order = list(heapq.merge(*_by_component(pieces), key=lambda k: pieces[k][0].box[0] + pieces[k][0].box[2]))
    else:
        order = sorted(range(len(pieces)), key=lambda k: (int(centre[pieces[k][1]]), pieces[k][0].box[0]))
    position = {k: i for i, k in enumerate(order)}
    cut_list = [(position[k - 1], position[k], strokes) for k, (_, c, strokes) in enumerate(pieces)
                if k and pieces[k - 1][1] == c]
    return _Line([pieces[k][0] for k in order], height, cut_list)


def _by_component(pieces: list[tuple[_Atom, int, float]]) -> list[list[int]]:
    """The indices of `pieces`, one list per component, in the order the pieces were made (left to right)."""
    groups: dict[int, list[int]] = {}
    for k, (_, c, _) in enumerate(pieces):
        groups.setdefault(c, []).append(k)
    return list(groups.values())


def _given_atoms(found: Ink, masks: Sequence[np.ndarray]) -> _Line:
    """The caller's atoms (boolean masks over the picture as shown), kept where they hold ink."""
    if len(masks) > MAX_MARKS:
        raise ImageError(f"too many separate marks to read as a number ({len(masks)}; at most {MAX_MARKS})")
    width, height = found.source_size
    h, w = found.shape
    sx, sy = found.scale
    rows = np.minimum((np.arange(h) * sy).astype(np.intp), height - 1)
    cols = np.minimum((np.arange(w) * sx).astype(np.intp), width - 1)
    atoms = []
    for m in masks:
        m = np.asarray(m, bool)
        if m.shape != (height, width):
            raise ImageError(f"an atom mask is {m.shape[1]}x{m.shape[0]}, the picture {width}x{height}")
        # Analysis pixels under any of the atom's pixels, grown by one for the ink's soft edge.
        reduced = np.logical_or.reduceat(np.logical_or.reduceat(m, rows, axis=0), cols, axis=1)
        own = dilate_square(reduced) & found.mask
        ys, xs = np.flatnonzero(own.any(axis=1)), np.flatnonzero(own.any(axis=0))
        if ys.size:
            y0, y1, x0, x1 = int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1
            atoms.append(_Atom((x0, y0, x1, y1), own[y0:y1, x0:x1]))
    if not atoms:
        raise NoInkError("no ink found under the given strokes")
    atoms.sort(key=lambda a: a.box[0] + a.box[2])
    return _Line(atoms, _line_height(np.array([a.box[3] - a.box[1] for a in atoms])), [])


def _line_height(heights: np.ndarray) -> float:
    """The height of a full digit: the median of the marks nearly as tall as the tallest (LINE_TALL), so that
    short 1s, bars and dots do not count."""
    tallest = float(heights.max())
    return max(1.0, float(np.median(heights[heights >= LINE_TALL * tallest])))


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of the ink in pixels: 2 x area / perimeter (the perimeter corrected for the grid)."""
    edges = np.count_nonzero(mask[1:] != mask[:-1]) + np.count_nonzero(mask[:, 1:] != mask[:, :-1])
    edges += np.count_nonzero(mask[[0, -1]]) + np.count_nonzero(mask[:, [0, -1]])
    return max(1.0, 2 * float(np.count_nonzero(mask)) / max(edges * math.pi / 4, 1.0))


def _label_image(found: Ink) -> np.ndarray:
    """int32 analysis-sized image: 1 + the component of each kept ink pixel, 0 elsewhere."""
    h, w = found.shape
    runs = found.runs
    lengths = runs[:, 2] - runs[:, 1]
    starts = runs[:, 0] * w + runs[:, 1]
    # Flat index of every pixel of every run: each run's start, then +1 along it.
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    out = np.zeros(h * w, np.int32)
    out[np.repeat(starts, lengths) + offsets] = np.repeat(found.run_label + 1, lengths)
    return out.reshape(h, w)


def _seams(masks: list[np.ndarray], height: float, stroke: float) -> list[list[tuple[np.ndarray, float]]]:
    """Candidate cuts through each wide component, left to right: (the first column right of the cut in each
    of its rows, strokes the cut crosses).

    A cut is a seam from the top row to the bottom one, moving at most a column a row, that crosses the least
    ink on its way (touching digits meet in a stroke; slanted ones are not parted by a straight cut). Seams
    are kept cheapest first, at least MIN_SEP line heights apart, one per CUT_EVERY of width. The components
    are searched together, side by side with a wall of ink between them, so the search is one pass of rows.
    """
    tall = max(m.shape[0] for m in masks)
    lefts = np.cumsum([0] + [m.shape[1] + 1 for m in masks])
    ink = np.zeros((tall, int(lefts[-1])), np.float32)
    ink[:, lefts[1:] - 1] = 1e6  # walls: no seam crosses from one component into the next
    for m, x in zip(masks, lefts[:-1].tolist(), strict=True):
        ink[: m.shape[0], x : x + m.shape[1]] = m
    cost = _seam_costs(ink)
    margin = max(1, round(MIN_PIECE * height))
    ends = np.concatenate([np.arange(x + margin, x + m.shape[1] - margin)
                           for m, x in zip(masks, lefts[:-1].tolist(), strict=True)]).astype(np.intp)
    paths = _backtrack(cost, ends)
    out = []
    for m, x in zip(masks, lefts[:-1].tolist(), strict=True):
        h, w = m.shape
        mine = np.flatnonzero((ends >= x) & (ends < x + w))
        seams = paths[:h, mine] - x
        middles = seams.mean(axis=0)
        crossed = ink[np.arange(h)[:, None], seams + x].sum(axis=0) / stroke
        found: list[tuple[np.ndarray, float]] = []
        taken: list[float] = []  # the middles of the seams in `found`
        limit = max(1, int(w / (CUT_EVERY * height)))
        for k in np.lexsort((np.abs(middles - w / 2), cost[-1, ends[mine]])).tolist():
            if len(found) >= limit:
                break
            middle = float(middles[k])
            if margin <= middle <= w - margin and all(abs(middle - t) >= MIN_SEP * height for t in taken):
                found.append((seams[:, k], float(crossed[k])))
                taken.append(middle)
        falls = []
        if w >= FALL_WIDE * height:
            # Falls from below too: where a digit leans onto the next one's foot, the gap opens at the bottom.
            falls = _drop_falls(m, margin) + [f[::-1] for f in _drop_falls(m[::-1], margin)]
        for seam in falls:
            middle = float(seam.mean())
            if all(abs(middle - t) >= DROP_SEP * height for t in taken):
                found.append((seam, float(m[np.arange(h), seam].sum()) / stroke))
                taken.append(middle)
        found.sort(key=lambda f: float(f[0].mean()))
        # Seams may not cross: each lies no further left than the one before it, row by row.
        for k in range(1, len(found)):
            found[k] = (np.maximum(found[k][0], found[k - 1][0]), found[k][1])
        out.append(found)
    return out


def _drop_falls(mask: np.ndarray, margin: int) -> list[np.ndarray]:
    """Drop-fall cuts through one component (bool mask), in the seams' form (a column per row): one from each deep
    valley of its top contour at least `margin` columns from either side (see DROP_DEPTH). Called on the mask
    upside down, the falls rise from the bottom contour."""
    h, w = mask.shape
    top = np.where(mask.any(axis=0), mask.argmax(axis=0), h)  # the first ink row of each column
    window = max(2, int(DROP_WINDOW * h))
    # Valleys (a first ink row lower than one neighbour's and no higher than the other's), found in one pass;
    # only those few are measured against their rims.
    mid, left, right = top[1:-1], top[:-2], top[2:]
    valleys = np.flatnonzero(((mid >= left) & (mid > right)) | ((mid > left) & (mid >= right))) + 1
    falls = []
    for c in valleys[(valleys > margin) & (valleys < w - margin - 1)].tolist():
        rim = max(top[max(0, c - window) : c].min(), top[c + 1 : c + 1 + window].min())
        if top[c] - rim >= DROP_DEPTH * h:
            falls.append(_fall(mask, c))
    return falls


def _fall(mask: np.ndarray, column: int) -> np.ndarray:
    """The path of a drop falling from the top row at `column`: straight down through paper, else down-left, else
    down-right, else on down through the ink (int [rows], a column per row)."""
    h, w = mask.shape
    path = np.empty(h, np.intp)
    c = column
    for r in range(h):
        path[r] = c
        if r + 1 < h and mask[r + 1, c]:
            if c > 0 and not mask[r + 1, c - 1]:
                c -= 1
            elif c + 1 < w and not mask[r + 1, c + 1]:
                c += 1
    return path


def _seam_costs(ink: np.ndarray) -> np.ndarray:
    """The least ink a seam from the top row can cross to reach each pixel (float32, ink's shape)."""
    h, w = ink.shape
    cost = np.empty((h, w + 2), np.float32)
    cost[:, 0] = cost[:, -1] = np.inf
    cost[0, 1:-1] = ink[0]
    turn = np.float32(SEAM_TURN)
    for r in range(1, h):
        above = cost[r - 1]
        row = cost[r, 1:-1]
        np.minimum(above[:-2], above[2:], out=row)
        row += turn
        np.minimum(row, above[1:-1], out=row)
        row += ink[r]
    return cost[:, 1:-1]


def _backtrack(cost: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The cheapest seams ending at the bottom row's columns `ends`: int [rows, len(ends)], a column per row."""
    h, w = cost.shape
    padded = np.full((h, w + 2), np.inf, np.float32)
    padded[:, 1:-1] = cost
    paths = np.empty((h, len(ends)), np.intp)
    paths[-1] = ends
    turn = np.float32(SEAM_TURN)
    for r in range(h - 1, 0, -1):
        at = paths[r] + 1  # in padded columns
        above = padded[r - 1]
        left, straight, right = above[at - 1] + turn, above[at], above[at + 1] + turn
        # Any cheapest predecessor continues a cheapest seam; on a tie, straight on.
        paths[r - 1] = paths[r] + np.where(straight <= np.minimum(left, right), 0, np.where(left <= right, -1, 1))
    return paths


def _candidate(found: Ink, atoms: list[_Atom], box: tuple[int, int, int, int], wide: int = 1) -> np.ndarray | None:
    """The model input for these atoms read as one digit (`wide` 2: as two, the pair reader's 28x56), or None
    when too little ink is left."""
    mask = _union(atoms, box)
    # Only these atoms' ink (a neighbour's stroke may reach into the box), with its soft edges.
    part, step = ink_crop(found, box, keep=dilate_square(mask))
    if float(part.max()) <= 0.02:
        return None
    try:
        return model_input(part, reduced=step > 1, wide=wide)
    except NoInkError:
        return None


def _union(atoms: list[_Atom], box: tuple[int, int, int, int]) -> np.ndarray:
    """The ink of these atoms in `box` (bool, the box's shape)."""
    x0, y0, x1, y1 = box
    mask = np.zeros((y1 - y0, x1 - x0), bool)
    for a in atoms:
        ax0, ay0, ax1, ay1 = a.box
        mask[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0] |= a.mask
    return mask


def _reading(found: Ink, steps: tuple[tuple[int, int | None], ...], likelihood: float, arcs: list[Arc],
             images: list[np.ndarray], probs: np.ndarray, pairs: tuple[list[Arc], np.ndarray] | None = None,
             pictures: Sequence[np.ndarray] = ()) -> Reading:
    """A path's reading. A digit read by the pair reader (its step's arc index is past `arcs`: see best_paths)
    gets its half of the pair's box and picture, and the pair reader's probabilities of that digit (the
    marginal over the other one, among the 100 pairs)."""
    labels, rows, pieces, started = [], [], [], set()
    for k, c in steps:
        if c is None:
            continue
        labels.append(c)
        if k < len(arcs):
            rows.append(np.asarray(probs[k], np.float32))
            pieces.append(DigitPiece(box=_to_source(found, arcs[k].box), image=images[k]))
            continue
        assert pairs is not None
        m = k - len(arcs)
        second = m in started
        started.add(m)
        joint = np.asarray(pairs[1][m, :100], np.float64).reshape(10, 10)  # [left digit, right digit]
        marginal = joint.sum(axis=0 if second else 1)
        row = np.zeros(probs.shape[1], np.float32)
        row[:10] = marginal / max(float(marginal.sum()), 1e-12)
        rows.append(row)
        x0, y0, x1, y1 = pairs[0][m].box
        middle = (x0 + x1) // 2
        half = (middle, y0, x1, y1) if second else (x0, y0, middle, y1)
        picture = pictures[m]
        pieces.append(DigitPiece(box=_to_source(found, half),
                                 image=np.ascontiguousarray(picture[:, 28:] if second else picture[:, :28])))
    return Reading(labels=labels, probabilities=np.stack(rows) if rows else np.zeros((0, 10), np.float32),
                   pieces=pieces, likelihood=likelihood)


def _to_source(found: Ink, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    sx, sy = found.scale
    w, h = found.source_size
    x0, y0, x1, y1 = box
    return (
        max(0, math.floor(x0 * sx)),
        max(0, math.floor(y0 * sy)),
        min(w, math.ceil(x1 * sx)),
        min(h, math.ceil(y1 * sy)),
    )
