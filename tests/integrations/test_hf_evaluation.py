"""AdaptiveEvaluationCallback on a real transformers Trainer with a tiny BERT built locally."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from transformers import Trainer, TrainerCallback  # noqa: E402

from stepladder.integrations.hf_evaluation import attach_adaptive_evaluation  # noqa: E402

from .test_hf import DATA, arguments, tiny_bert  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")


class Logs(TrainerCallback):
    def __init__(self) -> None:
        self.logs: list[dict[str, float]] = []

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any):
        self.logs.append(dict(logs or {}))


def test_scores_are_logged_every_n_steps_through_the_trainer(tmp_path):
    # The benchmark is the training set itself, graded by hand: difficulty = ink.
    inputs = torch.tensor(DATA["input_ids"])
    labels = np.asarray(DATA["labels"])
    items = {"item_id": np.arange(len(labels)), "difficulty": np.asarray(DATA["difficulty"])}
    items["difficulty"] = (items["difficulty"] - items["difficulty"].mean()) / 10
    asked: list[int] = []

    def answer(model, item_ids):
        asked.extend(int(i) for i in item_ids)
        assert not model.training  # evaluated in eval mode
        with torch.no_grad():
            predicted = model(input_ids=inputs[item_ids]).logits.argmax(-1).numpy()
        return (predicted == labels[item_ids]).astype(float)

    trainer = Trainer(model=tiny_bert(), args=arguments(tmp_path, max_steps=6), train_dataset=DATA)
    logs = Logs()
    trainer.add_callback(logs)
    attach_adaptive_evaluation(trainer, answer, items, every=3, max_items=12, target_se=None)
    trainer.train()
    scores = [log for log in logs.logs if "benchmark/score" in log]
    assert [round(log["benchmark/items"]) for log in scores] == [12, 12]  # steps 3 and 6
    assert len(asked) == 24 and trainer.model.training
    for log in scores:
        assert 0.0 <= log["benchmark/score_low"] <= log["benchmark/score"] <= 1.0
        assert log["benchmark/score_se"] > 0
