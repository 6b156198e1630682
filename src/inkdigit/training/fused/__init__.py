"""The paper net's fused CPU training step: C source (paper_kernel.c), its build (build.py), and its binding to
torch tensors (step.py)."""
