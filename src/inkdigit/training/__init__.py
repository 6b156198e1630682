"""The torch side: nets, recipes, the training loop, the fused C step, export to ONNX and evaluation.

Nothing outside this package imports it (or torch): recognition runs on ONNX Runtime alone.

  recipes.py   every model's training recipe, as plain values
  config.py    TrainConfig: a run's settings; each one given, else the recipe's
  loop.py      train(): data, model, step, the epochs, the test set once
  steps.py     one step interface, two engines: TorchStep and FusedStep (the paper net's C step)
  optim.py     optimiser, LR schedule, EMA of the weights
  runs.py      the run directory: config.json, checkpoint.pt (--resume), history.csv, model.pt, metrics.json
  distributed.py  several processes under torchrun: process group, shares of each batch, sums, rank 0 writes
  tensors.py   device, images as tensors, logits, a split's loss and accuracy
  nets/        the networks, by name
  fused/       paper_kernel.c, its build (build.py) and its binding to torch tensors (step.py)
  augment.py   canvas-like augmentation of training batches
  export.py    runs → one ONNX file;  evaluate.py  a run's report
"""
