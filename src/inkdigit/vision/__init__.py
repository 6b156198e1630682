"""Torch-free image work: decoding, ink analysis, connected components, MNIST normalisation, segmentation."""
