"""Canvas-like augmentation of MNIST batches, on the fly, batched on tensors (no per-image Python loop).

People drawing on a canvas write slanted, rotated, a little off-centre, with wobbly strokes and a brush
that is thicker or thinner than MNIST's pen. `augment_batch` imitates that in two batched steps:

1. stroke thickness: per-sample blend towards a dilation (thicker) or an erosion (thinner) of the image;
2. geometry: one random affine map per image (rotation, slant/shear, scale, aspect, translation) plus an
   elastic displacement field (low-res Gaussian noise upsampled to 28x28, so it is smooth), summed into a
   single sampling grid and applied with ONE `grid_sample` call for the whole batch;
3. pen lifts (off unless `lift` > 0): a small disc of ink wiped out at a random point of the strokes, so a
   loop is left open, a bar comes apart from its stem, a junction does not meet, as when people lift the pen;

Every random number comes from the caller's CPU `torch.Generator`, in a fixed order, so a seeded
generator gives the same batch every time (on any device: numbers are drawn on CPU, then moved).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentParams:
    """Strengths of each distortion (ranges are uniform, symmetric around "no change")."""

    rotate_deg: float = 12.0  # ± rotation
    shear: float = 0.25  # ± horizontal shear (slant); 0.25 ≈ ±14°
    scale: float = 0.12  # ± log-scale of the digit size (≈ 0.89x … 1.13x)
    aspect: float = 0.10  # ± log of the width/height ratio
    translate_px: float = 2.0  # ± shift in pixels along each axis
    elastic_px: float = 0.8  # std of the elastic displacement, pixels (at the control points)
    elastic_grid: int = 4  # control points per side of the elastic noise (lower = smoother warps)
    thicken: float = 0.8  # max blend weight towards the dilated image
    thin: float = 0.5  # max blend weight towards the eroded image
    p_thickness: float = 0.5  # probability that a sample's stroke width is changed at all
    lift: float = 0.0  # probability that a sample gets a pen lift (0: none, and no random numbers drawn for it)
    lift_px: tuple[float, float] = (1.0, 2.0)  # radius range of the wiped-out disc, pixels at 28x28


DEFAULT_PARAMS = AugmentParams()


def scaled(strength: float, params: AugmentParams = DEFAULT_PARAMS) -> AugmentParams:
    """`params` with every distortion `strength` times as strong (1 = as they are); the stroke-width blends
    stay at most a whole dilation or erosion. Font glyphs use it: a font is one hand drawn perfectly alike
    every time, so reading new fonts takes more variation than MNIST's many hands need."""
    s = strength
    return dataclasses.replace(params, rotate_deg=params.rotate_deg * s, shear=params.shear * s,
                               scale=params.scale * s, aspect=params.aspect * s, translate_px=params.translate_px * s,
                               elastic_px=params.elastic_px * s, thicken=min(1.0, params.thicken * s),
                               thin=min(1.0, params.thin * s))


def _uniform(n: int, half_width: float, gen: torch.Generator) -> torch.Tensor:
    """n draws from U(-half_width, half_width) on CPU."""
    return (torch.rand(n, generator=gen) * 2 - 1) * half_width


def dilate(x: torch.Tensor) -> torch.Tensor:
    """Grey-level dilation with a 3x3 plus-shaped element (thickens strokes by ~1 px each side)."""
    # A plus rather than a 3x3 square: a square grows diagonals by √2 px and makes blobs of thin loops.
    # Shifted copies + maximum: much faster on CPU than max_pool2d with a 1-channel, non-square kernel.
    # Replicate padding keeps the border neutral for erosion (zero padding would eat ink at the edges).
    xp = F.pad(x, (1, 1, 1, 1), mode="replicate")
    out = torch.maximum(x, xp[..., 1:-1, :-2])
    out = torch.maximum(out, xp[..., 1:-1, 2:])
    out = torch.maximum(out, xp[..., :-2, 1:-1])
    return torch.maximum(out, xp[..., 2:, 1:-1])


def erode(x: torch.Tensor) -> torch.Tensor:
    """Grey-level erosion with the same plus-shaped element (thins strokes)."""
    return -dilate(-x)


def change_thickness(x: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """Per-sample stroke width: amount[N] in [-1, 1]; >0 blends towards dilate, <0 towards erode, 0 = same."""
    a = amount.to(x.device, x.dtype).view(-1, 1, 1, 1)
    return x + a.clamp(min=0) * (dilate(x) - x) - (-a).clamp(min=0) * (x - erode(x))


def affine_matrices(n: int, p: AugmentParams, gen: torch.Generator) -> torch.Tensor:
    """[n,2,3] output→input maps in normalised [-1,1] coordinates about the centre (F.affine_grid's theta)."""
    rot = _uniform(n, math.radians(p.rotate_deg), gen)
    shear = _uniform(n, p.shear, gen)
    log_s = _uniform(n, p.scale, gen)
    log_a = _uniform(n, p.aspect, gen)
    shift = _uniform(2 * n, p.translate_px * 2 / 28, gen).view(n, 2)  # 1 px = 2/28 in normalised units
    # Inverse map (the grid says where each output pixel reads from): dividing by the scale enlarges.
    sx, sy = torch.exp(-(log_s + log_a / 2)), torch.exp(-(log_s - log_a / 2))
    c, s = torch.cos(rot), torch.sin(rot)
    # M = R(rot) @ [[1, shear], [0, 1]] @ diag(sx, sy)
    m00, m01 = c * sx, (c * shear - s) * sy
    m10, m11 = s * sx, (s * shear + c) * sy
    return torch.stack([torch.stack([m00, m01, shift[:, 0]], 1), torch.stack([m10, m11, shift[:, 1]], 1)], 1)


def _smooth_basis(size: int, k: int) -> torch.Tensor:
    """[size,k] Gaussian bumps centred on k evenly spaced control points: coarse noise → smooth field."""
    pos = torch.linspace(-1, 1, size).unsqueeze(1)
    centres = torch.linspace(-1, 1, k).unsqueeze(0)
    sigma = 2 / (k - 1)
    # Not row-normalised: that would inflate the displacement at the borders, where one bump dominates.
    return torch.exp(-0.5 * ((pos - centres) / sigma) ** 2)


def elastic_field(n: int, h: int, w: int, p: AugmentParams, gen: torch.Generator) -> torch.Tensor:
    """[n,h,w,2] smooth random displacement, normalised units (std ≈ p.elastic_px pixels at the centre)."""
    k = max(2, p.elastic_grid)
    noise = torch.randn(n, k, k, 2, generator=gen)
    by, bx = _smooth_basis(h, k), _smooth_basis(w, k)
    # Separable smoothing as two small matmuls: far cheaper than blurring full-resolution noise.
    field = torch.einsum("ik,nklc,jl->nijc", by, noise, bx)
    # The smoothing shrinks the noise; rescale so that elastic_px means pixels of displacement.
    gain = (by[h // 2].square().sum() * bx[w // 2].square().sum()).rsqrt()
    return field * (gain * p.elastic_px * 2 / max(h, w))


def sampling_grid(theta: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """[n,h,w,2] grid of F.affine_grid(theta, align_corners=False), built by broadcasting (no bmm)."""
    xs = (torch.arange(w, dtype=theta.dtype, device=theta.device) * 2 + 1) / w - 1
    ys = (torch.arange(h, dtype=theta.dtype, device=theta.device) * 2 + 1) / h - 1
    t = theta.view(-1, 2, 3, 1, 1)
    gx = t[:, 0, 0] * xs + t[:, 0, 1] * ys.view(-1, 1) + t[:, 0, 2]
    gy = t[:, 1, 0] * xs + t[:, 1, 1] * ys.view(-1, 1) + t[:, 1, 2]
    return torch.stack([gx, gy], -1)


def augment_batch(
    x: torch.Tensor, gen: torch.Generator, params: AugmentParams = DEFAULT_PARAMS
) -> torch.Tensor:
    """Canvas-like random distortion of x [N,1,H,W] in [0,1]; a new tensor of the same shape, in [0,1]."""
    if x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"expected [N,1,H,W] images, got shape {tuple(x.shape)}")
    n, _, h, w = x.shape
    if n == 0:
        return x.clone()
    p = params
    # All draws happen up front on CPU in a fixed order: the same generator state gives the same batch.
    change = torch.rand(n, generator=gen) < p.p_thickness
    amount = torch.where(change, torch.rand(n, generator=gen) * (p.thicken + p.thin) - p.thin, torch.zeros(n))
    theta = affine_matrices(n, p, gen)
    field = elastic_field(n, h, w, p, gen)

    x = change_thickness(x, amount)
    if p.lift > 0:  # drawn after the others: a run without lifts draws exactly what it always drew
        x = pen_lift(x, p, gen)
    grid = (sampling_grid(theta, h, w) + field).to(x.device, x.dtype)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return x.clamp_(0, 1)  # bilinear stays in range up to float error; keep the documented [0,1] exact


def pen_lift(x: torch.Tensor, p: AugmentParams, gen: torch.Generator) -> torch.Tensor:
    """x [N,1,H,W] with, in a share `p.lift` of the samples, a disc of ink (radius in `p.lift_px`) wiped out
    around a point picked at random on the ink (the brighter a pixel, the likelier)."""
    n, _, h, w = x.shape
    lifted = torch.rand(n, generator=gen) < p.lift
    radius = p.lift_px[0] + torch.rand(n, generator=gen) * (p.lift_px[1] - p.lift_px[0])
    at = torch.rand(n, generator=gen)
    # The point: where the cumulative ink crosses a random share of the total (inverse-CDF sampling, on any device).
    ink = x.reshape(n, -1).clamp(min=0)
    cdf = ink.cumsum(1)
    target = (at.to(x.device, x.dtype) * cdf[:, -1]).unsqueeze(1)
    idx = torch.searchsorted(cdf, target).clamp(max=h * w - 1).squeeze(1)
    cy, cx = (idx // w).to(x.dtype), (idx % w).to(x.dtype)
    ys = torch.arange(h, dtype=x.dtype, device=x.device).view(1, h, 1)
    xs = torch.arange(w, dtype=x.dtype, device=x.device).view(1, 1, w)
    dist = ((ys - cy.view(n, 1, 1)) ** 2 + (xs - cx.view(n, 1, 1)) ** 2).sqrt()
    # Full wipe inside the radius, back to full ink over one pixel beyond it (no hard, aliased edge).
    keep = (dist - radius.to(x.device, x.dtype).view(n, 1, 1)).clamp(0, 1)
    keep = torch.where(lifted.to(x.device).view(n, 1, 1), keep, torch.ones_like(keep))
    return x * keep.unsqueeze(1)
