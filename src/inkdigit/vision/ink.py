"""Find the ink in a grey picture and read it back at the resolution wanted.

Analysis decides which way round the ink is, the paper brightness under it (a fitted surface under uneven
lighting), the noise level, and which connected components are ink rather than specks. It works on a small
analysis image (the picture reduced to at most ANALYSIS_SIDE a side for one digit); only the box wanted is
then read from the picture itself, so a large photo costs little more than a canvas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from inkdigit.errors import NoInkError
from inkdigit.vision.components import component_stats, label_runs, mask_runs, paint_runs
from inkdigit.vision.normalise import CROP_SIDE
from inkdigit.vision.ops import blocked_matmul, dilate_square, mean3x3, picture_pixels, quantile

__all__ = [
    "ANALYSIS_SIDE",
    "MASK_LEVEL",
    "MIN_CONTRAST",
    "WORK_SIDE",
    "Ink",
    "analyse_ink",
    "grown_mask",
    "ink_crop",
    "ink_map",
    "kept_box",
    "pixels_under",
]

# Where the ink is and which ink is the digit is decided on a reduced analysis image: a digit needs far fewer
# pixels than a canvas or a photo has. A single digit is analysed at most ANALYSIS_SIDE a side (a 280x280
# canvas at 140x140); a number, whose digits are smaller, and the ink map of load_image/Stages at WORK_SIDE.
ANALYSIS_SIDE = 256
WORK_SIDE = 512
MIN_CONTRAST = 0.12  # weakest ink (fraction of the paper/ink luminance range) that counts as ink
# Ink mask level relative to the strong ink's contrast: low enough that a faint digit written next to
# bold ones (a pencil stroke beside a marker) is still found.
MASK_LEVEL = 0.25
# Components under this fraction of the largest one's area are specks (noise, JPEG speckle, stray dots).
SPECK_AREA = 0.05


@dataclass
class Ink:
    """Result of ink analysis shared by preprocess and segment (boxes and masks in analysis pixels)."""

    picture: Image.Image  # the decoded picture, grey: mode "L" (0..255) or "F" (0..1), paper under alpha
    factor: int  # picture pixels per analysis pixel
    pixels: np.ndarray  # float32 (h, w) in [0,1]: the analysis image (the picture reduced by factor)
    shape: tuple[int, int]  # (h, w) of the analysis image
    dark: bool  # ink darker than the paper
    paper: float  # paper brightness (0..1) where it is uniform
    background: np.ndarray | None  # 4x4 polynomial coefficients of the paper brightness, or None: uniform
    lo: float  # ink = clip((contrast - lo) * gain, 0, 1)
    gain: float
    mask: np.ndarray  # bool (h, w): kept components only
    scale: tuple[float, float]  # source pixels per analysis pixel (x, y)
    source_size: tuple[int, int]  # (width, height) of the source image as shown
    runs: np.ndarray  # int [n,3]: row, start, end (exclusive) of every kept run of the mask
    run_label: np.ndarray  # int [n]: component of each run (0..k-1)
    comps: np.ndarray  # int [k,5]: x0, y0, x1, y1, area of each kept component


def analyse_ink(picture: Image.Image, size: tuple[int, int], side: int = ANALYSIS_SIDE, *,
                min_area: float = SPECK_AREA) -> Ink:
    """Find the ink in a picture from `to_picture` (of a source `size` pixels): polarity, background, noise,
    and the kept connected components (those of at least `min_area` of the largest one's area: a line of
    letters or symbols keeps smaller marks, its dots).

    The picture is reduced (a box mean) so its longer side is at most `side`; a reduction of 2 or more
    already averages out speckle, so only an unreduced picture is smoothed with a 3x3 mean.
    """
    width, height = picture.size
    factor = _reduction(width, height, side)
    gray = picture_pixels(picture.reduce(factor) if factor > 1 else picture)
    h, w = gray.shape
    border = _border(gray)
    border.sort()
    p10, paper, p90 = (float(border[int(q * (border.size - 1))]) for q in (0.1, 0.5, 0.9))
    paper_is_light = paper >= 0.5
    background = None
    if p90 - p10 > 0.08 and min(h, w) * factor >= 48 and min(h, w) >= 24:
        # Uneven lighting, or ink on the border: a fitted paper surface instead of one brightness.
        background = _background(gray, paper_is_light)
        bg: np.ndarray | np.float32 = _surface(background, (np.arange(h, dtype=np.float32) + 0.5) * (2 / h) - 1,
                                          (np.arange(w, dtype=np.float32) + 0.5) * (2 / w) - 1)
    else:
        bg = np.float32(paper)
    diff = gray - bg
    # Speckle must not count as ink: a 3x3 mean drops an isolated pixel to 1/9, a 2-px stroke keeps 2/3.
    smooth = mean3x3(diff) if factor == 1 else diff
    dark_score, light_score = float(-smooth.min()), float(smooth.max())
    # The border says which way round; a clearly stronger opposite deviation (mid-grey paper) overrides.
    dark = paper_is_light
    if dark and light_score > 2 * dark_score:
        dark = False
    elif not dark and dark_score > 2 * light_score:
        dark = True
    # Contrast relative to the local paper brightness, so dim and bright parts of a photo read alike.
    if background is None:
        inv = np.float32(1 / max(paper if dark else 1 - paper, 0.2))
    else:
        inv = 1 / np.maximum(bg if dark else 1 - bg, np.float32(0.2))
    sign = -inv if dark else inv
    raw = np.maximum(diff * sign, 0)
    sraw = raw if smooth is diff else np.maximum(smooth * sign, 0)
    edge = _border(sraw)
    sigma = _mad_sigma(edge) if edge.any() else 0.0  # a clean border (canvas, MNIST) has no noise to measure
    floor = max(0.08, 5 * sigma)
    candidates = sraw[sraw > floor]
    if candidates.size < 4:
        raise NoInkError("no ink found: the image is blank or uniform")
    peak = quantile(candidates, 0.9)
    if peak < max(MIN_CONTRAST, 6 * sigma):
        raise NoInkError("no ink found: only faint marks or noise")
    mask = sraw > max(MASK_LEVEL * peak, 3.5 * sigma, 0.05)

    runs = mask_runs(mask)
    label, k = label_runs(runs, w)
    comps = component_stats(runs, label, k)
    # Drop specks: components far smaller than the largest one (noise, JPEG speckle, stray dots).
    areas = comps[:, 4]
    keep = areas >= max(3 if factor == 1 else 1, min_area * float(areas.max()))
    if not keep.all():
        new_index = np.cumsum(keep) - 1
        run_keep = keep[label]
        runs, label = runs[run_keep], new_index[label[run_keep]]
        comps = comps[keep]
        mask = paint_runs(mask.shape, runs)
    # A dot is not a digit. In picture pixels (an analysis pixel may be only partly covered), judged at the
    # scale of an ink map of at most WORK_SIDE a side.
    longest = int(max(comps[:, 2].max() - comps[:, 0].min(), comps[:, 3].max() - comps[:, 1].min()))
    work = _reduction(width, height, WORK_SIDE)
    if (longest - 1) * factor + 1 < max(4 * work, 0.02 * min(width, height)):
        raise NoInkError("no ink found: only a dot or speck")

    # Full ink = the level of the strong strokes (not of the faint ones the low mask level also admits).
    ink_pixels = raw[mask & (sraw > 0.45 * peak)]
    hi = quantile(ink_pixels, 0.9) if ink_pixels.size else peak
    lo = min(max(0.15 * hi, 3 * sigma), 0.5 * hi)
    return Ink(
        picture=picture,
        factor=factor,
        pixels=gray,
        shape=(h, w),
        dark=dark,
        paper=paper,
        background=background,
        lo=lo,
        gain=1 / max(hi - lo, 1e-3),
        mask=mask,
        scale=(size[0] * factor / width, size[1] * factor / height),
        source_size=size,
        runs=runs,
        run_label=label,
        comps=comps,
    )


def kept_box(found: Ink) -> tuple[int, int, int, int]:
    """The box (x0, y0, x1, y1, exclusive end) around all the kept ink, in analysis pixels."""
    comps = found.comps
    return int(comps[:, 0].min()), int(comps[:, 1].min()), int(comps[:, 2].max()), int(comps[:, 3].max())


def ink_crop(found: Ink, box: tuple[int, int, int, int], keep: np.ndarray | None = None,
             step: int | None = None) -> tuple[np.ndarray, int]:
    """The ink (float32 0..1) inside an analysis-pixel box, read from the picture, and the picture pixels
    per pixel it was read at.

    `keep` (bool, the box's shape) says which analysis pixels may hold ink, by default the kept components
    grown by a pixel (`grown_mask`). The picture is read at `step` picture pixels per pixel, by default so
    that the box's longer side is CROP_SIDE..2*CROP_SIDE px (or the picture's own resolution when it is
    smaller).
    """
    x0, y0, x1, y1 = box
    f = found.factor
    width, height = found.picture.size
    region = (x0 * f, y0 * f, min(x1 * f, width), min(y1 * f, height))
    if step is None:
        step = max(1, max(region[2] - region[0], region[3] - region[1]) // CROP_SIDE)
    # At the analysis step the analysis image is the picture read already.
    gray = found.pixels[y0:y1, x0:x1] if step == f else _read(found.picture, region, step)
    h, w = gray.shape
    if found.background is None:
        # Uniform paper: the ink is one linear function of the brightness, clipped.
        paper = found.paper
        a = (-1 if found.dark else 1) * found.gain / max(paper if found.dark else 1 - paper, 0.2)
        ink = gray * np.float32(a)
        ink += np.float32(-a * paper - found.lo * found.gain)
    else:
        ah, aw = found.shape
        # Pixel centres in analysis coordinates, then -1..1 across the analysis image as in analyse_ink.
        v = (region[1] + (np.arange(h, dtype=np.float32) + 0.5) * step) * np.float32(2 / (f * ah)) - 1
        u = (region[0] + (np.arange(w, dtype=np.float32) + 0.5) * step) * np.float32(2 / (f * aw)) - 1
        bg = _surface(found.background, v, u)
        if found.dark:
            ink = (bg - gray) / np.maximum(bg, np.float32(0.2))
        else:
            ink = (gray - bg) / np.maximum(1 - bg, np.float32(0.2))
        ink -= np.float32(found.lo)
        ink *= np.float32(found.gain)
    np.clip(ink, 0, 1, out=ink)
    if keep is None:
        keep = grown_mask(found.mask, box)
    ink *= pixels_under(keep, f, step, h, w)
    return ink, step


def ink_map(found: Ink) -> tuple[np.ndarray, int]:
    """The whole ink map at most WORK_SIDE a side, and the picture pixels per ink-map pixel."""
    width, height = found.picture.size
    step = _reduction(width, height, WORK_SIDE)
    h, w = found.shape
    return ink_crop(found, (0, 0, w, h), step=step)


def grown_mask(mask: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The mask grown by a pixel (3x3 dilation: soft ink edges next to kept ink), inside box only.

    Dilating just the box and a one-pixel margin gives the same pixels as dilating the whole analysis image.
    """
    x0, y0, x1, y1 = box
    h, w = mask.shape
    top, left = max(y0 - 1, 0), max(x0 - 1, 0)
    grown = dilate_square(mask[top : min(y1 + 1, h), left : min(x1 + 1, w)])
    return grown[y0 - top : y1 - top, x0 - left : x1 - left]


def pixels_under(a: np.ndarray, f: int, step: int, h: int, w: int) -> np.ndarray:
    """Analysis pixels (f picture pixels each) under an h x w grid of `step`-pixel cells from the origin."""
    if step == f:
        return a[:h, :w]
    if f % step == 0:  # each analysis pixel covers r x r cells
        r = f // step
        rows, cols = min(a.shape[0], -(-h // r)), min(a.shape[1], -(-w // r))
        # Columns by r strided copies (np.repeat copies element by element), then rows by whole-row repeats.
        wide = np.empty((rows, cols, r), a.dtype)
        for k in range(r):
            wide[:, :, k] = a[:rows, :cols]
        return np.repeat(wide.reshape(rows, cols * r), r, axis=0)[:h, :w]
    # Otherwise the analysis pixel under each cell's centre.
    rows = np.minimum((np.arange(h) * step + step // 2) // f, a.shape[0] - 1)
    cols = np.minimum((np.arange(w) * step + step // 2) // f, a.shape[1] - 1)
    return a[rows[:, None], cols]


def _reduction(width: int, height: int, side: int) -> int:
    """The smallest whole reduction that brings a width x height picture to at most `side` a side."""
    return max(1, -(-max(width, height) // side))


def _border(a: np.ndarray) -> np.ndarray:
    b = max(1, min(a.shape) // 50)
    if b == 1:
        return np.concatenate((a[0], a[-1], a[1:-1, 0], a[1:-1, -1]))
    return np.concatenate([a[:b].ravel(), a[-b:].ravel(), a[b:-b, :b].ravel(), a[b:-b, -b:].ravel()])


def _mad_sigma(values: np.ndarray) -> float:
    med = quantile(values, 0.5)
    return 1.4826 * quantile(np.abs(values - np.float32(med)), 0.5)


def _background(gray: np.ndarray, paper_is_light: bool) -> np.ndarray:
    """Smooth paper brightness under uneven lighting: a robust cubic surface fit to block medians.

    Ink is rejected as outliers, so thick strokes do not pull the estimate (a blur would). Returns the 4x4
    coefficients of the surface in coordinates running from -1 to 1 across the image (see _surface).
    """
    h, w = gray.shape
    n = 24
    by, bx = max(1, h // n), max(1, w // n)
    ny, nx = h // by, w // bx
    blocks = gray[: ny * by, : nx * bx].reshape(ny, by, nx, bx).transpose(0, 2, 1, 3).reshape(ny, nx, -1)
    z = np.median(blocks, axis=2).ravel()
    v = ((np.arange(ny) + 0.5) * by / h * 2 - 1).astype(np.float32)
    u = ((np.arange(nx) + 0.5) * bx / w * 2 - 1).astype(np.float32)
    vv, uu = np.meshgrid(v, u, indexing="ij")
    terms = [(i, j) for i in range(4) for j in range(4) if i + j <= 3]
    design = np.stack([(vv.ravel() ** i) * (uu.ravel() ** j) for i, j in terms], axis=1)
    # Start from the paper side (brightest blocks for dark ink), then refine with symmetric rejection.
    keep = z >= np.percentile(z, 40) if paper_is_light else z <= np.percentile(z, 60)
    coef = np.zeros(len(terms), np.float32)
    for _ in range(6):
        if keep.sum() < len(terms) + 2:
            break
        coef, *_ = np.linalg.lstsq(design[keep], z[keep], rcond=None)
        resid = z - design @ coef
        s = 1.4826 * float(np.median(np.abs(resid[keep]))) + 0.01
        new_keep = np.abs(resid) < 2.5 * s
        if np.array_equal(new_keep, keep):
            break
        keep = new_keep
    cmat = np.zeros((4, 4), np.float32)
    for (i, j), c in zip(terms, coef, strict=True):
        cmat[i, j] = c
    return cmat


def _surface(cmat: np.ndarray, v: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The background polynomial at rows v and columns u (coordinates -1..1 across the analysis image)."""
    vpow = np.stack([v**i for i in range(4)], axis=1)
    upow = np.stack([u**j for j in range(4)], axis=1)
    return np.clip(blocked_matmul(vpow @ cmat, np.ascontiguousarray(upow.T)), 0.0, 1.0).astype(np.float32)


def _read(picture: Image.Image, box: tuple[int, int, int, int], step: int) -> np.ndarray:
    """The picture inside box, reduced by step (a box mean, in C), as float32 in [0,1]."""
    if step > 1:
        return picture_pixels(picture.reduce(step, box=box))
    if box == (0, 0) + picture.size:
        return picture_pixels(picture)
    return picture_pixels(picture.crop(box))
