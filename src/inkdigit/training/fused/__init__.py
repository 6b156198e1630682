"""The paper net's fused CPU training step: C source, its build, and its binding to torch tensors."""
