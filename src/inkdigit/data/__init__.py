"""MNIST-style datasets: IDX files, a registry, verified fetching and the fixed validation split."""

from __future__ import annotations

import os

import numpy as np

from inkdigit.data.fetch import FetchError, dataset_dir, default_data_dir, fetch, find_verified
from inkdigit.data.idx import IdxError, read_idx, write_idx
from inkdigit.data.registry import DATASETS, DatasetSpec, get_spec
from inkdigit.errors import MissingDataError

__all__ = [
    "DATASETS", "DatasetSpec", "FetchError", "IdxError", "MissingDataError", "dataset_dir",
    "default_data_dir", "fetch", "get_spec", "load", "read_idx", "split_train_val", "write_idx",
]



def load(
    name: str = "mnist", split: str = "train", data_dir: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Load a cached split as (images uint8 [N,28,28], labels int64 [N]); never downloads."""
    spec = get_spec(name)
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r} (use 'train' or 'test')")
    folder = dataset_dir(spec, data_dir)
    files = (spec.train_images, spec.train_labels) if split == "train" else (spec.test_images, spec.test_labels)
    arrays = []
    for f in files:
        path = find_verified(spec, f, folder)
        if path is None:
            raise MissingDataError(
                f"{spec.name} {split} data not found in {folder} ({f.name}): run `inkdigit fetch`"
                + (f" --data-dir {data_dir}" if data_dir else "")
            )
        arr = read_idx(path)
        if arr.shape != f.shape:
            raise IdxError(f"{path}: shape {arr.shape}, expected {f.shape}")
        arrays.append(arr)
    images, labels = arrays
    return images, labels.astype(np.int64)


def split_train_val(n: int, val_size: int = 5000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fixed, seeded split of range(n) into (train indices, validation indices); val_size=0 gives no val."""
    if not 0 <= val_size < n:
        raise ValueError(f"val_size must be in [0, {n}), got {val_size}")
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[val_size:]), np.sort(perm[:val_size])
