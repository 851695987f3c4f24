"""Adapters to training frameworks, each importable only when its framework is installed.

- :mod:`stepladder.integrations.torch`: ``CurriculumSampler``, a resumable, distributed-aware
  ``torch.utils.data.Sampler`` (extra ``stepladder[torch]``).
- :mod:`stepladder.integrations.hf`: ``CurriculumTrainer`` and ``CurriculumCallback`` for the
  Hugging Face ``Trainer`` (extra ``stepladder[hf]``).
- :mod:`stepladder.integrations.trl`: ``CurriculumGRPOTrainer`` and ``attach_curriculum`` for
  TRL's ``GRPOTrainer`` (extra ``stepladder[trl]``).
- :mod:`stepladder.integrations.gym`: ``CurriculumWrapper``, a gymnasium wrapper that sets the
  next task on ``reset`` and reports episode scores (extra ``stepladder[gym]``).
- :mod:`stepladder.integrations.ray`: one curriculum in a named Ray actor shared by many
  workers, and ``RemoteCurriculum``, its buffered client (extra ``stepladder[ray]``).
- :mod:`stepladder.integrations.verl`: ``CurriculumReplayBuffer`` and
  ``CurriculumRLHFDataset`` for verl's v1 PPO/GRPO trainer, set through its config (extra
  ``stepladder[verl]``).

This package imports nothing heavy: ``import stepladder`` never imports torch, gymnasium or ray.
"""
