"""The torch side: nets, recipes, the training loop, the fused C step, export to ONNX and evaluation.

Nothing outside this package imports it (or torch): recognition runs on ONNX Runtime alone.
"""
