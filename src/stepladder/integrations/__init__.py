"""Adapters to training frameworks, each importable only when its framework is installed.

- :mod:`stepladder.integrations.torch`: ``CurriculumSampler``, a resumable, distributed-aware
  ``torch.utils.data.Sampler`` (extra ``stepladder[torch]``).
- :mod:`stepladder.integrations.hf`: ``CurriculumTrainer`` and ``CurriculumCallback`` for the
  Hugging Face ``Trainer`` (extra ``stepladder[hf]``).

This package imports nothing heavy: ``import stepladder`` never imports torch.
"""
