"""inkdigit: read handwritten digits and numbers (MNIST), from the paper's CNN to a stronger net."""

__version__ = "0.1.0"
