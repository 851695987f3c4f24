"""Log an estimated benchmark score every N steps of a Hugging Face or TRL trainer.

An adaptive test (:func:`stepladder.evaluation.evaluate_adaptively`) asks the checkpoint
a few dozen items of a graded benchmark and predicts its accuracy on all of them, with a
standard error, at a fraction of the cost of the full benchmark::

    from stepladder.integrations.hf_evaluation import attach_adaptive_evaluation

    def answer(model, item_ids):          # your code: run the model, score each answer
        return [grade(model, question[i]) for i in item_ids]

    attach_adaptive_evaluation(trainer, answer, "items.parquet", every=200, max_items=60)
    trainer.train()   # logs benchmark/score, benchmark/score_se, benchmark/items, ...

It works with any ``transformers.Trainer`` subclass (TRL's trainers included): the metrics
go through ``trainer.log``, so ``report_to`` sends them wherever the loss goes. This
module needs ``transformers`` (extra ``stepladder[hf]``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stepladder._checks import positive_int
from stepladder.evaluation import Benchmark, evaluate_adaptively

try:
    from transformers import TrainerCallback
except ImportError as _error:  # pragma: no cover - exercised only where transformers is absent
    raise ImportError(
        "stepladder.integrations.hf_evaluation needs transformers: pip install 'stepladder[hf]'"
    ) from _error

__all__ = ["AdaptiveEvaluationCallback", "attach_adaptive_evaluation"]


class AdaptiveEvaluationCallback(TrainerCallback):
    """Every ``every`` optimizer steps, test the model adaptively and log the estimate.

    Args:
        trainer: the trainer whose ``log`` receives the metrics.
        answer: ``answer(model, item_ids) -> scores in [0, 1]``.
        items: the graded benchmark (an item table, a Parquet path or a
            :class:`~stepladder.evaluation.Benchmark`).
        every: steps between tests (also tested at the end of training).
        prefix: metric name prefix.
        **test_options: :class:`~stepladder.evaluation.AdaptiveTest` options
            (``max_items``, ``target_se``, ``randomesque``, ``seed``) and ``batch_size``.

    Each test uses a fresh seed (``seed + step``), so the items asked vary over training
    while every run of the same script asks the same ones.
    """

    def __init__(
        self,
        trainer: Any,
        answer: Callable[[Any, Any], Any],
        items: Any,
        *,
        every: int = 500,
        prefix: str = "benchmark",
        **test_options: Any,
    ) -> None:
        self.trainer = trainer
        self.answer = answer
        self.benchmark = Benchmark.from_items(items)
        self.every = positive_int("every", every)
        self.prefix = prefix
        self.seed = int(test_options.pop("seed", 0))
        self.test_options = test_options
        self.last_step = -1

    def evaluate(self, model: Any, step: int) -> dict[str, float]:
        """Run one adaptive test now and return its metrics."""
        was_training = getattr(model, "training", False)
        if hasattr(model, "eval"):
            model.eval()
        try:
            estimate = evaluate_adaptively(
                lambda ids: self.answer(model, ids),
                self.benchmark,
                seed=self.seed + step,
                **self.test_options,
            )
        finally:
            if was_training and hasattr(model, "train"):
                model.train()
        self.last_step = step
        return {
            f"{self.prefix}/score": estimate.score,
            f"{self.prefix}/score_se": estimate.se,
            f"{self.prefix}/score_low": estimate.low,
            f"{self.prefix}/score_high": estimate.high,
            f"{self.prefix}/ability": estimate.ability,
            f"{self.prefix}/items": float(estimate.n_items),
        }

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        step = int(state.global_step)
        if step % self.every == 0 and step != self.last_step:
            self.trainer.log(self.evaluate(kwargs.get("model", self.trainer.model), step))

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        step = int(state.global_step)
        if step != self.last_step:
            self.trainer.log(self.evaluate(kwargs.get("model", self.trainer.model), step))


def attach_adaptive_evaluation(
    trainer: Any, answer: Callable[[Any, Any], Any], items: Any, **options: Any
) -> AdaptiveEvaluationCallback:
    """Create an :class:`AdaptiveEvaluationCallback` for ``trainer`` and add it."""
    callback = AdaptiveEvaluationCallback(trainer, answer, items, **options)
    trainer.add_callback(callback)
    return callback
