"""Building the paper net's fused training step (`paper_kernel.c`) with the system C compiler, on first use.

The library is cached per source, compiler and CPU in `$XDG_CACHE_HOME/inkdigit/kernels` (else ~/.cache); it
is written to a temp file and renamed, so a killed build never leaves a broken one. `library()` returns it
loaded, its functions' C signatures declared (`Ctx` mirrors the C struct they share with `step.PaperStep`).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

from inkdigit.errors import KernelError

SOURCE = Path(__file__).with_name("paper_kernel.c")
# -fno-math-errno lets sqrtf vectorise; no -ffast-math: IEEE arithmetic, as torch's.
FLAGS = ["-O3", "-fno-math-errno", "-ffp-contract=fast", "-shared", "-fPIC", "-std=gnu11"]
# AVX2/FMA where the CPU has them, OpenMP threads where the compiler has it; each dropped if refused.
OPTIONAL_FLAGS = [["-march=native", "-fopenmp"], ["-fopenmp"], []]
PARAMS = 8  # W1 b1 W2 b2 W3 b3 W4 b4


class Ctx(ctypes.Structure):
    """Mirrors `Ctx` in paper_kernel.c: the tensors a step reads and writes, and its hyperparameters."""

    _fields_ = [
        ("x", ctypes.c_void_p), ("y", ctypes.c_void_p), ("n", ctypes.c_int64),
        ("param", ctypes.c_void_p * PARAMS), ("exp_avg", ctypes.c_void_p * PARAMS),
        ("exp_avg_sq", ctypes.c_void_p * PARAMS),
        ("work", ctypes.c_void_p), ("masks", ctypes.c_void_p), ("seed", ctypes.c_uint64),
        ("lr", ctypes.c_float), ("beta1", ctypes.c_float), ("beta2", ctypes.c_float), ("eps", ctypes.c_float),
        ("weight_decay", ctypes.c_float), ("decoupled", ctypes.c_int), ("label_smoothing", ctypes.c_float),
        ("threads", ctypes.c_int), ("batch_x", ctypes.c_void_p),
    ]


@functools.lru_cache(maxsize=1)
def library() -> ctypes.CDLL:
    """The built kernel, loaded (built first if this source/compiler/CPU has no cached build)."""
    cc = compiler()
    try:
        version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        raise KernelError(f"cannot run the C compiler {cc}: {e}") from None
    key = hashlib.sha256("\0".join([SOURCE.read_text(), cc, version, repr(FLAGS + OPTIONAL_FLAGS),
                                    _cpu_id()]).encode()).hexdigest()[:16]
    user = os.getuid() if hasattr(os, "getuid") else "user"  # a temp folder per user: no one else's build
    for folder in (cache_dir(), Path(tempfile.gettempdir()) / f"inkdigit-kernels-{user}"):
        path = folder / f"paper_kernel-{key}.so"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if not path.is_file():
                compile_kernel(cc, path)
            break
        except OSError:  # a read-only cache: build in the temp dir instead
            continue
    else:
        raise KernelError(f"no writable folder to build the kernel in (tried {cache_dir()})")
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as e:  # e.g. a cache on a noexec mount
        raise KernelError(f"cannot load the built kernel {path}: {e}") from None
    lib.paper_step.argtypes = [ctypes.POINTER(Ctx), ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_void_p]
    lib.paper_step.restype = ctypes.c_int
    lib.paper_work_floats.argtypes = [ctypes.c_int]
    lib.paper_work_floats.restype = ctypes.c_long
    lib.paper_grad_offset.restype = ctypes.c_long
    return lib


def compiler() -> str:
    """The C compiler to build with: $CC, else cc, gcc or clang on PATH; KernelError if none."""
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        path = shutil.which(name) if name else None
        if path:
            return path
    raise KernelError("no C compiler found (install gcc, or set CC)")


def cache_dir() -> Path:
    """Where built kernels are kept."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "inkdigit" / "kernels"


def compile_kernel(cc: str, out: Path) -> None:
    """Build SOURCE into the shared library `out` with the first OPTIONAL_FLAGS the compiler accepts."""
    errors: list[str] = []
    for extra in OPTIONAL_FLAGS:
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".build-", suffix=".so")
        os.close(fd)
        try:
            done = subprocess.run([cc, *FLAGS, *extra, "-o", tmp, str(SOURCE), "-lm"], capture_output=True,
                                  text=True, timeout=120)
            if done.returncode == 0:
                os.replace(tmp, out)
                return
            errors = done.stderr.strip().splitlines()[:1]
        except (OSError, subprocess.TimeoutExpired) as e:
            errors = [str(e)]
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise KernelError(f"{cc} could not build {SOURCE.name}: {' '.join(errors)[:200] or 'unknown error'}")


def _cpu_id() -> str:
    """What -march=native depends on: the CPU's model and feature flags."""
    try:
        info = Path("/proc/cpuinfo").read_text()
        lines = [ln for ln in info.splitlines() if ln.startswith(("model name", "flags", "Features"))][:2]
        return "\n".join(lines)
    except OSError:
        return platform.processor() + platform.machine()
