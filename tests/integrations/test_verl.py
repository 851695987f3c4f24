"""The verl integration, with verl's real RLHFDataset, collate function, DataProto, GRPO advantage
and torchdata's StatefulDataLoader, driven the way ``RayPPOTrainer.fit`` drives them.

What is not run here: ``RayPPOTrainer.fit`` itself, which needs GPU workers (FSDP and a vLLM or
SGLang rollout server); the trainer hook is tested with the worker-side actor update replaced.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from abc import abstractmethod
from typing import Any

import numpy as np
import pytest

pytest.importorskip("verl")

import pyarrow as pa
import pyarrow.parquet as pq
import torch
from omegaconf import OmegaConf
from tokenizers import Tokenizer, models, pre_tokenizers
from torch.utils.data import Sampler
from torchdata.stateful_dataloader import StatefulDataLoader
from transformers import PreTrainedTokenizerFast
from verl import DataProto
from verl.trainer.ppo.ray_trainer import AdvantageEstimator, RayPPOTrainer, compute_advantage
from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn
from verl.utils.import_utils import load_extern_object

import stepladder.integrations.verl as verl_adapter
from stepladder import Curriculum, ItemPool, Outcomes
from stepladder.integrations._rollouts import groups_from_rollouts
from stepladder.integrations.verl import VerlCurriculumSampler, row_indices

N_PROMPTS = 12
GROUP = 4  # rollout.n
BATCH = 4  # data.train_batch_size
RESPONSE_TOKENS = 6

# -- helpers ---------------------------------------------------------------------------------


def tokenizer() -> PreTrainedTokenizerFast:
    """A word-level tokenizer built in code (RLHFDataset wants one; nothing is downloaded)."""
    core = Tokenizer(models.WordLevel({"<pad>": 0, "<eos>": 1, "<unk>": 2}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )


def rl_dataset(tmp_path: Any, *, with_index: bool = True) -> RLHFDataset:
    """verl's RLHFDataset over a parquet file in verl's format; prompt i has difficulty i."""
    n = N_PROMPTS
    extra = [{"index": i, "split": "train"} if with_index else {"split": "train"} for i in range(n)]
    table = pa.table(
        {
            "prompt": [[{"role": "user", "content": f"add {i} and {i}"}] for i in range(n)],
            "data_source": ["toy"] * n,
            "reward_model": [{"style": "rule", "ground_truth": str(2 * i)} for i in range(n)],
            "extra_info": extra,
            "difficulty": [float(i) for i in range(n)],
        }
    )
    path = tmp_path / ("train.parquet" if with_index else "train_no_index.parquet")
    pq.write_table(table, path)
    config = OmegaConf.create(
        {"cache_dir": str(tmp_path / "cache"), "filter_overlong_prompts": False}
    )
    return RLHFDataset(str(path), tokenizer(), config)


def loader(dataset: RLHFDataset, sampler: Sampler) -> StatefulDataLoader:
    """The train loader exactly as RayPPOTrainer._create_dataloader builds it."""
    return StatefulDataLoader(
        dataset=dataset,
        batch_size=BATCH,
        num_workers=0,
        drop_last=True,
        collate_fn=collate_fn,
        sampler=sampler,
    )


def pass_probability(index: int) -> float:
    return 1.0 - index / (N_PROMPTS - 1)  # prompt 0 always solved, the last never


def training_batch(batch_dict: dict[str, Any], step: int) -> DataProto:
    """One step of RayPPOTrainer.fit's data path after generation: uids, rollout.n repeats,
    rewards at each response's last token, a balance-style shuffle, GRPO advantages."""
    batch = DataProto.from_single_dict(batch_dict)
    batch.non_tensor_batch["uid"] = np.array(
        [f"{step}-{row}" for row in range(len(batch))], dtype=object
    )
    batch = batch.repeat(repeat_times=GROUP, interleave=True)
    rows = len(batch)
    lengths = 1 + (np.arange(rows) % RESPONSE_TOKENS)
    mask = torch.as_tensor(np.arange(RESPONSE_TOKENS)[None, :] < lengths[:, None]).long()
    scores = torch.zeros(rows, RESPONSE_TOKENS)
    for row, index in enumerate(row_indices(batch)):
        draw = np.random.default_rng([step, row, int(index)]).random()
        scores[row, lengths[row] - 1] = float(draw < pass_probability(int(index)))
    batch.batch["response_mask"] = mask
    batch.batch["token_level_scores"] = scores
    batch.batch["token_level_rewards"] = scores.clone()
    batch.reorder(torch.randperm(rows, generator=torch.Generator().manual_seed(step)))
    return compute_advantage(batch, adv_estimator=AdvantageEstimator.GRPO, num_repeat=GROUP)


def fit(
    data: StatefulDataLoader, sampler: VerlCurriculumSampler, *, epochs: int, start_step: int = 0
) -> list[list[int]]:
    """RayPPOTrainer.fit's loop over the loader, feeding each batch back; returns the prompts."""
    seen = []
    step = start_step
    for _epoch in range(step // len(data), epochs):
        for batch_dict in data:
            step += 1
            seen.append([int(i) for i in batch_dict["index"]])
            sampler.update(training_batch(batch_dict, step))
    return seen


class Recorder(Curriculum):
    """A Curriculum that keeps every Outcomes it observes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.observed: list[Outcomes] = []

    def observe(self, outcomes: Outcomes | None = None, /, **fields: Any) -> None:
        self.observed.append(outcomes)
        super().observe(outcomes, **fields)


# -- feedback ----------------------------------------------------------------------------------


def test_update_observes_each_prompts_rewards_and_advantages(tmp_path):
    dataset = rl_dataset(tmp_path)
    cur = Recorder(N_PROMPTS, "uniform", seed=0)
    sampler = VerlCurriculumSampler(dataset, curriculum=cur, batch_size=BATCH)
    batch_dict = next(iter(loader(dataset, sampler)))
    batch = training_batch(batch_dict, step=1)
    sampler.update(batch)

    (outcomes,) = cur.observed
    assert sorted(outcomes.indices.tolist()) == sorted(int(i) for i in batch_dict["index"])
    scores = batch.batch["token_level_scores"].sum(-1).numpy()
    advantages = batch.batch["advantages"]
    mask = batch.batch["response_mask"].bool()
    rows = row_indices(batch)
    for k, index in enumerate(outcomes.indices.tolist()):
        mine = rows == index
        assert outcomes.rollouts[k] == GROUP
        assert np.nansum(outcomes.rewards[k]) == scores[mine].sum()
        expected = [float(advantages[r][mask[r]].mean()) for r in np.flatnonzero(mine)]
        assert np.allclose(
            np.sort(outcomes.advantages[k][: outcomes.rollouts[k]]), sorted(expected)
        )
    sampler.update(batch)  # the same batch again (trainer and hook both calling): ignored
    assert len(cur.observed) == 1 and sampler.updates == 1


def test_feedback_changes_the_proposals(tmp_path):
    dataset = rl_dataset(tmp_path)
    fed = VerlCurriculumSampler(dataset, strategy="mopps", batch_size=BATCH, seed=3)
    fit(loader(dataset, fed), fed, epochs=3)
    unfed = VerlCurriculumSampler(dataset, strategy="mopps", batch_size=BATCH, seed=3)
    for _ in range(3):
        list(unfed)  # the same three passes, without feedback
    assert fed.updates == 9
    assert list(fed) != list(unfed)


def test_filtering_zeroes_advantages_of_rejected_groups(tmp_path):
    dataset = rl_dataset(tmp_path)
    sampler = VerlCurriculumSampler(
        dataset, strategy="range_filter", batch_size=BATCH, low=0.0, high=0.5
    )
    batch = training_batch(next(iter(loader(dataset, sampler))), step=2)
    before = batch.batch["advantages"].clone()
    rows = row_indices(batch)
    scores = batch.batch["token_level_scores"].sum(-1).numpy()
    sampler.update(batch)
    after = batch.batch["advantages"]
    for index in np.unique(rows):
        mine = torch.as_tensor(rows == index)
        mean = scores[rows == index].mean()
        if 0.0 < mean < 0.5:
            assert torch.equal(after[mine], before[mine])
        else:
            assert torch.count_nonzero(after[mine]) == 0
    ignoring = VerlCurriculumSampler(
        dataset, strategy="range_filter", batch_size=BATCH, low=0.0, high=0.5, filtering="ignore"
    )
    batch = training_batch(next(iter(loader(dataset, ignoring))), step=2)
    before = batch.batch["advantages"].clone()
    ignoring.update(batch)
    assert torch.equal(batch.batch["advantages"], before)


def test_allocation_repeats_prompts_as_whole_groups(tmp_path):
    dataset = rl_dataset(tmp_path)
    sampler = VerlCurriculumSampler(dataset, strategy="knapsack", batch_size=BATCH, seed=1)
    data = loader(dataset, sampler)
    fit(data, sampler, epochs=2)  # learn pass rates, so budgets differ between prompts
    batch_dict = next(iter(data))
    proposal = sampler.last_proposal
    assert proposal is not None and proposal.rollouts is not None
    copies = groups_from_rollouts(proposal.rollouts, BATCH)
    assert [int(i) for i in batch_dict["index"]] == np.repeat(proposal.indices, copies).tolist()
    sampler.update(training_batch(batch_dict, step=99))  # copies of one prompt merge into one item


def test_rewards_outside_the_range_are_rescaled(tmp_path):
    dataset = rl_dataset(tmp_path)
    cur = Recorder(N_PROMPTS, "uniform", seed=0)
    sampler = VerlCurriculumSampler(dataset, curriculum=cur, batch_size=BATCH, reward_range=(-1, 1))
    batch = training_batch(next(iter(loader(dataset, sampler))), step=1)
    sampler.update(batch)
    rewards = cur.observed[0].rewards
    assert set(np.unique(rewards[~np.isnan(rewards)])) <= {0.5, 1.0}  # 0 -> 0.5, 1 -> 1


# -- checkpoints -------------------------------------------------------------------------------


@pytest.mark.parametrize("stop_after", [2, 4])
def test_stateful_dataloader_checkpoint_resumes_exactly(tmp_path, stop_after):
    dataset = rl_dataset(tmp_path)
    steps_per_epoch = N_PROMPTS // BATCH
    epochs = 2

    def build() -> tuple[VerlCurriculumSampler, StatefulDataLoader]:
        sampler = VerlCurriculumSampler(dataset, strategy="dump", batch_size=BATCH, seed=7)
        return sampler, loader(dataset, sampler)

    whole_sampler, whole_loader = build()
    whole = fit(whole_loader, whole_sampler, epochs=epochs)
    assert len(whole) == epochs * steps_per_epoch

    # Stop after `stop_after` steps, save data.pt the way verl does, resume in a new process.
    sampler, data = build()
    step, head = 0, []
    for _epoch in range(epochs):
        for batch_dict in data:
            step += 1
            head.append([int(i) for i in batch_dict["index"]])
            sampler.update(training_batch(batch_dict, step))
            if step == stop_after:
                break
        if step == stop_after:
            break
    torch.save(data.state_dict(), tmp_path / "data.pt")

    resumed_sampler, resumed_loader = build()
    resumed_loader.load_state_dict(torch.load(tmp_path / "data.pt", weights_only=False))
    tail = fit(resumed_loader, resumed_sampler, epochs=epochs, start_step=stop_after)
    assert head + tail == whole
    final, expected = resumed_sampler.state_dict(), whole_sampler.state_dict()
    assert torch.equal(final["record"], expected["record"]) and final["epoch"] == expected["epoch"]
    np.testing.assert_equal(
        resumed_sampler.curriculum.state_dict(), whole_sampler.curriculum.state_dict()
    )


# -- configuration and errors --------------------------------------------------------------------


def test_builds_from_verl_data_config_through_class_path(tmp_path):
    dataset = rl_dataset(tmp_path)
    config = OmegaConf.create(
        {
            "data": {
                "train_batch_size": BATCH,
                "gen_batch_size": None,
                "seed": 5,
                "dataloader_num_workers": 0,
                "sampler": {
                    "class_path": "pkg://stepladder.integrations.verl",
                    "class_name": "VerlCurriculumSampler",
                    "strategy": "adarft",
                    "params": {"beta": 0.6},
                    "difficulty_key": "difficulty",
                    "reward_range": [0, 1],
                },
            }
        }
    )
    # What verl's create_rl_sampler does with data.sampler.class_path (verl main branch).
    cls = load_extern_object(config.data.sampler.class_path, config.data.sampler.class_name)
    sampler = cls(data_source=dataset, data_config=config.data)
    assert isinstance(sampler, VerlCurriculumSampler) and isinstance(sampler, Sampler)
    assert sampler.batch_size == BATCH and sampler.curriculum.seed == 5
    assert sampler.curriculum.strategy.name == "adarft"
    assert sampler.curriculum.strategy.beta == 0.6
    assert sampler.curriculum.pool.difficulty.tolist() == [float(i) for i in range(N_PROMPTS)]
    fit(loader(dataset, sampler), sampler, epochs=1)
    assert sampler.updates == N_PROMPTS // BATCH


def test_bad_settings_are_refused(tmp_path):
    dataset = rl_dataset(tmp_path)
    with pytest.raises(ValueError, match="batch_size"):
        VerlCurriculumSampler(dataset)
    with pytest.raises(ValueError, match="filtering"):
        VerlCurriculumSampler(dataset, batch_size=2, filtering="maybe")
    with pytest.raises(ValueError, match="difficulty_key='level'"):
        VerlCurriculumSampler(dataset, batch_size=2, difficulty_key="level")
    with pytest.raises(ValueError, match="12 rows"):
        VerlCurriculumSampler(dataset, curriculum=Curriculum(5), batch_size=2)
    with pytest.raises(ValueError, match="not both"):
        VerlCurriculumSampler(dataset, curriculum=Curriculum(12), strategy="sec", batch_size=2)
    with pytest.raises(ValueError, match="reward_range"):
        VerlCurriculumSampler(dataset, batch_size=2, reward_range=(1, 0))


def test_prompts_without_their_row_number_are_refused(tmp_path):
    dataset = rl_dataset(tmp_path, with_index=False)  # RLHFDataset then sets index 0 everywhere
    sampler = VerlCurriculumSampler(dataset, batch_size=BATCH, seed=2)
    batch = training_batch(next(iter(loader(dataset, sampler))), step=1)
    with pytest.raises(ValueError, match="row number"):
        sampler.update(batch)
    assert sampler.updates == 0
    with pytest.raises(ValueError, match="no 'token_level_scores'"):
        bare = DataProto.from_dict(non_tensors={"index": np.array([0], dtype=object)})
        VerlCurriculumSampler(dataset, batch_size=BATCH).update(bare)


def test_row_indices_read_extra_info_or_a_column():
    info = np.array([{"index": 3}, {"index": 1}], dtype=object)
    batch = DataProto.from_dict(non_tensors={"extra_info": info})
    assert row_indices(batch).tolist() == [3, 1]
    column = DataProto.from_dict(non_tensors={"row": np.array([2, 0], dtype=object)})
    assert row_indices(column, "row").tolist() == [2, 0]
    with pytest.raises(ValueError, match="integers"):
        row_indices(DataProto.from_dict(non_tensors={"row": np.array(["x"], dtype=object)}), "row")
    with pytest.raises(ValueError, match="neither"):
        row_indices(column, "index")


# -- verl's trainer and curriculum interfaces ------------------------------------------------------


def test_trainer_hook_updates_before_the_actor_and_logs(tmp_path, monkeypatch):
    dataset = rl_dataset(tmp_path)
    sampler = VerlCurriculumSampler(dataset, strategy="range_filter", batch_size=BATCH)
    trainer_cls = verl_adapter.CurriculumRayPPOTrainer
    assert issubclass(trainer_cls, RayPPOTrainer)
    events = []

    def actor_update(self: Any, batch: DataProto) -> DataProto:  # stands in for the GPU workers
        events.append(("actor", sampler.updates, batch.batch["advantages"].clone()))
        return DataProto(meta_info={"metrics": {"actor/pg_loss": [0.1]}})

    monkeypatch.setattr(RayPPOTrainer, "_update_actor", actor_update)
    trainer = object.__new__(trainer_cls)
    trainer.train_dataloader = loader(dataset, sampler)
    batch = training_batch(next(iter(trainer.train_dataloader)), step=1)
    output = trainer._update_actor(batch)
    (event,) = events
    assert event[1] == 1  # the curriculum observed the batch before the actor update
    assert torch.equal(event[2], batch.batch["advantages"])  # and masked it first
    assert output.meta_info["metrics"]["stepladder/step"] == 1.0
    assert "actor/pg_loss" in output.meta_info["metrics"]


def test_conforms_to_abstract_curriculum_sampler_where_verl_has_it(monkeypatch, tmp_path):
    """verl's main branch defines the interface in verl.experimental.dataset.sampler; the PyPI
    release does not. A stand-in module with the same interface shows the adapter takes it as
    its base class when present."""

    class AbstractSampler(Sampler[int]):
        @abstractmethod
        def __init__(self, data_source: Any, data_config: Any) -> None:
            pass

    class AbstractCurriculumSampler(AbstractSampler):
        @abstractmethod
        def update(self, batch: DataProto) -> None:
            pass

    module = types.ModuleType("verl.experimental.dataset.sampler")
    module.AbstractSampler = AbstractSampler
    module.AbstractCurriculumSampler = AbstractCurriculumSampler
    monkeypatch.setitem(sys.modules, "verl.experimental.dataset", types.ModuleType("dataset"))
    monkeypatch.setitem(sys.modules, "verl.experimental.dataset.sampler", module)
    spec = importlib.util.find_spec("stepladder.integrations.verl")
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)

    dataset = rl_dataset(tmp_path)
    config = OmegaConf.create({"train_batch_size": BATCH, "sampler": {"strategy": "sec"}})
    sampler = fresh.VerlCurriculumSampler(data_source=dataset, data_config=config)
    assert isinstance(sampler, AbstractCurriculumSampler)
    sampler.update(batch=training_batch(next(iter(loader(dataset, sampler))), step=1))
    assert sampler.updates == 1


def test_pool_from_a_curriculum_keeps_its_difficulties(tmp_path):
    dataset = rl_dataset(tmp_path)
    pool = ItemPool(size=N_PROMPTS, difficulty=np.arange(N_PROMPTS, dtype=float)[::-1])
    sampler = VerlCurriculumSampler(
        dataset, curriculum=Curriculum(pool, "easy_to_hard"), batch_size=BATCH
    )
    assert list(sampler)[:BATCH] == [11, 10, 9, 8]
