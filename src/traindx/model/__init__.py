"""Model, checkpoint and training-code analysis.

- :mod:`.summary`: what traindx knows about a model (tensors, groups, layers,
  dtypes, tied weights, weight health, spectra), as plain dataclasses.
- Readers of the model's parameters, none of which runs code from the file:
  :mod:`.safetensors_file` (the header, and values by memory map),
  :mod:`.torchzip` (torch zip checkpoints through a restricted unpickler),
  :mod:`.torchload` (``torch.load(weights_only=True)``), :mod:`.hfconfig`
  (parameter counts computed from an HF ``config.json``); :mod:`.factory` calls
  a user-named ``module:callable`` only when the user asks for it.
- :mod:`.health` and :mod:`.spectral`: what the weight values say.
- :mod:`.memory`: the training-memory estimate (and the CUDA measurement).
- :mod:`.lint`: a static lint of training code (parsed with ``ast``, never imported).

Nothing here is imported by ``import traindx``; torch is imported only by the
modules that need it, inside the functions that use it.
"""
