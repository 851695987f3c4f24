"""CurriculumTrainer with a real transformers Trainer on a tiny BERT built locally."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
hf_datasets = pytest.importorskip("datasets")
sklearn_datasets = pytest.importorskip("sklearn.datasets")

from transformers import (  # noqa: E402
    BertConfig,
    BertForSequenceClassification,
    TrainerCallback,
    TrainingArguments,
)

from stepladder import Curriculum, ItemPool, load_state, strategies  # noqa: E402
from stepladder.integrations.hf import (  # noqa: E402
    INDEX_COLUMN,
    STATE_FILE,
    CurriculumTrainer,
    make_curriculum_trainer,
)

from .test_torch import assert_same_state  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")

N_ITEMS = 72
BATCH = 8


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def digits_dataset() -> Any:
    """Digits as token sequences: 64 pixel intensities (0-16) are the tokens, 10 labels."""
    x, y = sklearn_datasets.load_digits(return_X_y=True)
    x, y = x[:N_ITEMS].astype(np.int64), y[:N_ITEMS]
    return hf_datasets.Dataset.from_dict(
        {
            "input_ids": x.tolist(),
            "labels": y.tolist(),
            "difficulty": (x > 8).sum(axis=1).astype(float).tolist(),  # unused by the model
        }
    )


DATA = digits_dataset()


def tiny_bert() -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=17,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=10,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    return BertForSequenceClassification(config)


def arguments(output_dir: Any, **overrides: Any) -> TrainingArguments:
    settings = {
        "output_dir": str(output_dir),
        "per_device_train_batch_size": BATCH,
        "gradient_accumulation_steps": 1,
        "max_steps": 12,  # 9 steps per epoch: the run crosses into a second epoch
        "save_steps": 4,
        "logging_steps": 2,
        "learning_rate": 1e-3,
        "report_to": [],
        "use_cpu": True,
        "dataloader_num_workers": 0,
        "seed": 0,
        "disable_tqdm": True,
    }
    return TrainingArguments(**{**settings, **overrides})


class Probe(TrainerCallback):
    """Records the items of every step and the curriculum state at chosen moments."""

    def __init__(self, trainer: CurriculumTrainer) -> None:
        self.trainer = trainer
        self.steps: list[list[int]] = []
        self.saved: dict[int, dict[str, Any]] = {}
        self.at_begin: dict[str, Any] | None = None

    def on_train_begin(self, args, state, control, **kwargs) -> None:
        self.at_begin = self.trainer.curriculum_sampler.state_dict()

    def on_save(self, args, state, control, **kwargs) -> None:
        self.saved[state.global_step] = self.trainer.curriculum_sampler.state_dict()


class Recording(CurriculumTrainer):
    """Notes each step's dataset indices, as compute_loss receives them."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if INDEX_COLUMN in inputs:
            self.items.append(inputs[INDEX_COLUMN].tolist())
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)


def make_trainer(
    output_dir: Any, curriculum: Any, eval_dataset: Any = None, **overrides: Any
) -> tuple[Recording, Probe]:
    trainer = Recording(
        model=tiny_bert(),
        args=arguments(output_dir, **overrides),
        train_dataset=DATA,
        eval_dataset=eval_dataset,
        curriculum=curriculum,
    )
    trainer.items = []
    probe = Probe(trainer)
    trainer.add_callback(probe)  # after the CurriculumCallback: sees the restored state
    return trainer, probe


def flat(steps: list[list[int]]) -> list[int]:
    return [item for step in steps for item in step]


def difficulty_curriculum(strategy: str) -> Curriculum:
    pool = ItemPool(size=N_ITEMS, difficulty=np.asarray(DATA["difficulty"]))
    return Curriculum(pool, strategy, seed=3)


CASES = [
    pytest.param("easy_to_hard", {}, id="easy_to_hard"),
    pytest.param("mopps", {"gradient_accumulation_steps": 2, "max_steps": 8}, id="mopps-ga2"),
    pytest.param("self_paced", {}, id="self_paced-weighted"),
]


@pytest.mark.parametrize(("strategy", "overrides"), CASES)
def test_resume_from_checkpoint_restores_the_curriculum_exactly(
    strategy: str, overrides: dict[str, Any], tmp_path
) -> None:
    if strategy not in strategies.available():
        pytest.skip(f"{strategy} not registered")
    full, full_probe = make_trainer(tmp_path / "full", difficulty_curriculum(strategy), **overrides)
    full.train()
    checkpoint = tmp_path / "full" / "checkpoint-4"
    assert (checkpoint / STATE_FILE).is_file()

    resumed, probe = make_trainer(tmp_path / "full", difficulty_curriculum(strategy), **overrides)
    resumed.train(resume_from_checkpoint=str(checkpoint))

    # Right after the restore, the curriculum is the one the checkpoint was taken from...
    assert_same_state(probe.at_begin, full_probe.saved[4])
    assert_same_state(probe.at_begin, load_state(checkpoint / STATE_FILE))
    # ...and the resumed run trains on the same items, ending in the same state.
    micro_per_step = overrides.get("gradient_accumulation_steps", 1)
    assert resumed.items == full.items[4 * micro_per_step :]
    final_step = max(full_probe.saved)
    assert_same_state(probe.saved[final_step], full_probe.saved[final_step])


def test_resume_with_true_uses_the_last_checkpoint(tmp_path) -> None:
    full, full_probe = make_trainer(tmp_path, "uniform", max_steps=8)
    full.train()
    resumed, probe = make_trainer(tmp_path, "uniform", max_steps=10)
    resumed.train(resume_from_checkpoint=True)
    assert_same_state(probe.at_begin, full_probe.saved[8])
    assert len(resumed.items) == 2


def test_metrics_join_the_trainer_logs(tmp_path) -> None:
    trainer, _ = make_trainer(
        tmp_path,
        "uniform",
        eval_dataset=DATA.select(range(16)),  # evaluation passes through compute_loss too
        max_steps=4,
        save_steps=100,
        eval_strategy="steps",
        eval_steps=2,
    )
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert logged and all("curriculum/step" in entry for entry in logged)
    evaluated = [entry for entry in trainer.state.log_history if "eval_loss" in entry]
    assert len(evaluated) == 2 and not any("curriculum/step" in entry for entry in evaluated)
    # Feedback after every optimizer step: the curriculum has observed all 4 of them.
    assert trainer.curriculum.step == 4
    assert trainer.curriculum.stats.attempts.sum() == 4 * BATCH
    assert logged[-1]["curriculum/items_seen"] == len(set(flat(trainer.items)))


class SourceProbe(TrainerCallback):
    """Notes the sampler's per-source metrics after each step's feedback."""

    def __init__(self, trainer: CurriculumTrainer) -> None:
        self.trainer = trainer
        self.steps: list[dict[str, float]] = []

    def on_step_end(self, args, state, control, **kwargs) -> None:
        self.steps.append(dict(self.trainer.curriculum_sampler.source_metrics))


def test_per_source_metrics_join_the_logs_averaged_since_the_last_log(tmp_path) -> None:
    names = ["low", "high"]
    source = np.asarray(DATA["labels"]) >= 5
    pool = ItemPool(size=N_ITEMS, groups=np.where(source, "high", "low"))
    trainer, _ = make_trainer(tmp_path, Curriculum(pool, "uniform", seed=1), max_steps=6)
    probe = SourceProbe(trainer)
    trainer.add_callback(probe)  # after the CurriculumCallback: sees each step's feedback
    trainer.train()

    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logged) == 3 and len(probe.steps) == 6  # logging_steps=2
    for number, entry in enumerate(logged):
        steps = probe.steps[2 * number : 2 * number + 2]
        shares = [entry[f"curriculum/source/{name}/share"] for name in names]
        assert sum(shares) == pytest.approx(1.0)
        # each step's share of a source, averaged over the two steps of the window
        high = np.mean([source[step].mean() for step in trainer.items[2 * number : 2 * number + 2]])
        assert shares[1] == pytest.approx(high) and 0 < high < 1
        for name in names:
            key = f"source/{name}/pass_rate"
            rates = [step[key] for step in steps if key in step]  # steps where it was present
            if rates:
                rate = entry[f"curriculum/{key}"]
                assert 0.0 <= rate <= 1.0 and rate == pytest.approx(np.mean(rates))
        assert not any(key.endswith("effective_ratio") for key in entry)  # one score per row
    # the per-step correctness is the model's: the curriculum saw the same successes
    stats = trainer.curriculum.stats
    observed = [
        step[f"source/{name}/pass_rate"] * step[f"source/{name}/share"] * BATCH
        for step in probe.steps
        for name in names
        if f"source/{name}/pass_rate" in step
    ]
    assert sum(observed) == pytest.approx(stats.successes.sum())


def test_every_training_row_is_fed_back_once_per_step(tmp_path) -> None:
    trainer, _ = make_trainer(tmp_path, "uniform", max_steps=9, save_steps=100)
    trainer.train()
    trained = sorted(flat(trainer.items))
    assert trained == list(range(N_ITEMS))  # one epoch of uniform: every row once
    assert trainer.curriculum.stats.attempts.tolist() == [1] * N_ITEMS


def test_factory_and_argument_checks(tmp_path) -> None:
    cls = make_curriculum_trainer(transformers.Trainer)
    assert issubclass(cls, transformers.Trainer) and cls.__name__ == "CurriculumTrainer"
    trainer = CurriculumTrainer(
        model=tiny_bert(), args=arguments(tmp_path), train_dataset=DATA, curriculum=Curriculum(5)
    )
    with pytest.raises(ValueError, match="pool has 5 items"):
        trainer.get_train_dataloader()
    with pytest.raises(ValueError, match="curriculum_params"):
        CurriculumTrainer(
            model=tiny_bert(),
            args=arguments(tmp_path),
            train_dataset=DATA,
            curriculum=Curriculum(5),
            curriculum_params={"replace": True},
        )


@pytest.mark.parametrize("max_steps", [6, 30])
def test_pacing_horizon_comes_from_the_trainer(tmp_path, max_steps) -> None:
    # competence's total_steps defaults to 1000: a 30-step run used to unlock about 20% of the
    # data. Given no horizon, the run's max_steps is the horizon and the schedule completes.
    trainer, _ = make_trainer(
        tmp_path, difficulty_curriculum("competence"), max_steps=max_steps, save_steps=100
    )
    trainer.train()
    strategy = trainer.curriculum.strategy
    assert strategy.total_steps == max_steps
    assert strategy.metrics()["fraction"] == 1.0
    # the same curriculum built with total_steps=max_steps proposes the same first items
    pool = ItemPool(size=N_ITEMS, difficulty=np.asarray(DATA["difficulty"]))
    twin = Curriculum(pool, "competence", seed=3, total_steps=max_steps)
    assert flat(trainer.items[:1]) == twin.propose(BATCH).indices.tolist()


def test_a_horizon_the_user_gave_is_kept_with_a_warning(tmp_path, caplog) -> None:
    pool = ItemPool(size=N_ITEMS, difficulty=np.asarray(DATA["difficulty"]))
    curriculum = Curriculum(pool, "competence", seed=3, total_steps=50)
    trainer, _ = make_trainer(tmp_path, curriculum, max_steps=4, save_steps=100)
    with caplog.at_level("WARNING", logger="stepladder.integrations.hf"):
        trainer.train()
    assert trainer.curriculum.strategy.total_steps == 50
    assert "total_steps=50 but this run has max_steps=4" in caplog.text
