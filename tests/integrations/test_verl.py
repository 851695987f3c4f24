"""The verl v1 integration, run with verl's real pieces on CPU: a local Ray and TransferQueue,
verl's replay-buffer sampling loop, the v1 trainer's own methods for building the replay buffer
and for drawing prompts (``prepare_step``, the refill function, ``_next_train_batch``), the
dataset class loader, ``RLHFDataset``, ``collate_fn`` and torchdata's ``StatefulDataLoader``.

What is not run here: generation and the actor update (GPU workers). A stand-in for verl's
agent-loop worker writes each prompt's trajectories into TransferQueue the way
``AgentLoopWorkerTQ`` does (keys ``{uid}_{session}_0``, the prompt's fields, ``rm_scores``
with the reward on the last token, then the prompt's status ``finished``).
``benchmarks/verl_gpu_check.py`` runs the whole trainer where a GPU is.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("verl")
pytest.importorskip("transfer_queue")

import pyarrow as pa
import pyarrow.parquet as pq
import ray
import torch
import transfer_queue as tq
import verl
from omegaconf import OmegaConf
from tensordict import NonTensorData, NonTensorStack
from tokenizers import Tokenizer, models, pre_tokenizers
from torchdata.stateful_dataloader import StatefulDataLoader
from transformers import PreTrainedTokenizerFast
from verl.trainer.ppo.utils import create_rl_dataset, create_rl_sampler
from verl.trainer.ppo.v1.trainer_base import PPOTrainer
from verl.utils.dataset.rl_dataset import collate_fn
from verl.utils.tensordict_utils import list_of_dict_to_tensordict

import stepladder.integrations.verl as adapter
from stepladder.integrations.verl import (
    ROW_KEY,
    CurriculumReplayBuffer,
    CurriculumReplayBufferAsync,
)

N_PROMPTS = 12
GROUP = 4  # actor_rollout_ref.rollout.n
BATCH = 4  # data.train_batch_size
TOKENS = 3


@pytest.fixture(scope="module", autouse=True)
def transfer_queue():
    """A local Ray and TransferQueue (one storage unit; about 10 s to start on CPU)."""
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    tq.init(OmegaConf.create({"backend": {"SimpleStorage": {"num_data_storage_units": 1}}}))
    yield
    tq.close()
    if started:
        ray.shutdown()


@pytest.fixture(autouse=True)
def empty_queue():
    yield
    for partition, items in (tq.kv_list() or {}).items():
        if items:
            tq.kv_clear(keys=list(items), partition_id=partition)


# -- a v1 trainer driven on CPU -----------------------------------------------------------


def tokenizer() -> PreTrainedTokenizerFast:
    core = Tokenizer(models.WordLevel({"<pad>": 0, "<eos>": 1, "<unk>": 2}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )


def data_file(tmp_path: Path) -> str:
    """A parquet file in verl's format; prompt i has difficulty i; the first half of the prompts
    come from source "easy", the rest from "hard"."""
    n = N_PROMPTS
    table = pa.table(
        {
            "prompt": [[{"role": "user", "content": f"add {i} and {i}"}] for i in range(n)],
            "data_source": ["easy" if i < n // 2 else "hard" for i in range(n)],
            "reward_model": [{"style": "rule", "ground_truth": str(2 * i)} for i in range(n)],
            "extra_info": [{"index": i} for i in range(n)],
            "difficulty": [float(i) for i in range(n)],
        }
    )
    path = tmp_path / "train.parquet"
    pq.write_table(table, path)
    return str(path)


def trainer_config(tmp_path: Path, sampler_kwargs: dict, **data: Any) -> Any:
    """The config keys the v1 trainer reads here; ``trainer.v1`` is verl's own default."""
    shipped = OmegaConf.load(Path(verl.__file__).parent / "trainer/config/ppo_trainer.yaml")
    files = data_file(tmp_path)
    config = OmegaConf.create(
        {
            "trainer": {"v1": shipped.trainer.v1},
            "algorithm": {"filter_groups": {"enable": False}},
            "actor_rollout_ref": {"rollout": {"n": GROUP}},
            "data": {
                "train_files": files,
                "val_files": files,
                "train_batch_size": BATCH,
                "gen_batch_size": None,
                "dataloader_num_workers": 0,
                "shuffle": True,
                "seed": 7,
                "cache_dir": str(tmp_path / "cache"),
                "filter_overlong_prompts": False,
                "custom_cls": {
                    "path": "pkg://stepladder.integrations.verl",
                    "name": "CurriculumRLHFDataset",
                },
                **data,
            },
        }
    )
    sampler = config.trainer.v1.sampler
    sampler.custom_sampler.path = "pkg://stepladder.integrations.verl"
    sampler.custom_sampler.name = "CurriculumReplayBuffer"
    sampler.sampler_kwargs = sampler_kwargs
    return config


def pass_probability(row: int) -> float:
    return 1.0 - row / (N_PROMPTS - 1)  # prompt 0 always solved, the last never


class Generator:
    """Stands in for verl's AgentLoopManagerTQ: writes each prompt's group into TransferQueue."""

    def __init__(self, rewards: Any = None) -> None:
        self.rewards = rewards or (lambda row, uid, session: pass_probability(row))
        self.rows: dict[str, int] = {}  # uid -> dataset row
        self.sizes: dict[str, int] = {}  # uid -> responses generated

    def generate_sequences(self, batch: Any) -> None:
        prompts = []
        for i in range(len(batch)):
            prompt = {}
            for key, value in batch.items():  # as AgentLoopWorkerTQ.generate_sequences reads it
                if isinstance(value, torch.Tensor):
                    prompt[key] = value[i]
                elif isinstance(value, NonTensorStack):
                    prompt[key] = value[i].data
                elif isinstance(value, NonTensorData):
                    prompt[key] = value.data
            prompts.append(prompt)
        for prompt in prompts:
            uid = prompt["uid"]
            n = int(prompt.pop("__rollout_n__", GROUP))
            keys, fields = [], []
            for session in range(n):
                draw = np.random.default_rng([prompt[ROW_KEY], session, len(self.rows)]).random()
                reward = float(draw < self.rewards(prompt[ROW_KEY], uid, session))
                scores = torch.zeros(TOKENS)
                scores[-1] = reward
                keys.append(f"{uid}_{session}_0")
                fields.append({**prompt, "rm_scores": scores, "response_mask": torch.ones(TOKENS)})
            tags = [{"status": "success", "global_steps": prompt["global_steps"]}] * n
            table = list_of_dict_to_tensordict(fields)
            tq.kv_batch_put(keys=keys, fields=table, tags=tags, partition_id="train")
            tq.kv_put(key=uid, partition_id="train", tag={"status": "finished"})
            self.rows[uid] = int(prompt[ROW_KEY])
            self.sizes[uid] = n


def make_trainer(config: Any, generator: Generator | None = None) -> Any:
    """The v1 trainer's replay buffer and data path, built by verl's own PPOTrainer methods
    (``_build_replay_buffer``, then datasets and the loader as ``_init_dataloader`` builds them)."""
    trainer = types.SimpleNamespace(config=config, trainer_mode=config.trainer.v1.trainer_mode)
    for name in (
        "_build_replay_buffer",
        "_add_prompts_to_generate",
        "_next_train_batch",
        "_fetch_one_gen_batch",
        "_submit_batch_to_rollout",
        "prepare_step",
        "_add_batch_to_generate",
    ):
        setattr(trainer, name, types.MethodType(getattr(PPOTrainer, name), trainer))
    trainer.replay_buffer = trainer._build_replay_buffer()
    trainer.replay_buffer.poll_interval = 0.01
    trainer.train_dataset = create_rl_dataset(
        config.data.train_files, config.data, tokenizer(), None, is_train=True
    )
    trainer.val_dataset = create_rl_dataset(
        config.data.val_files, config.data, tokenizer(), None, is_train=False
    )
    trainer.train_dataloader = StatefulDataLoader(
        dataset=trainer.train_dataset,
        batch_size=config.data.get("gen_batch_size") or config.data.train_batch_size,
        num_workers=config.data["dataloader_num_workers"],
        drop_last=True,
        collate_fn=collate_fn,
        sampler=create_rl_sampler(config.data, trainer.train_dataset),
    )
    trainer.train_dataloader_it = None
    trainer.global_steps = 1
    trainer.agent_loop_manager = generator or Generator()
    return trainer


def train_step(trainer: Any) -> tuple[list[int], dict]:
    """One step of PPOTrainer.step's data path: submit a batch, sample it, clear it."""
    trainer.prepare_step()
    batch, metrics = trainer.replay_buffer.sample(
        global_steps=trainer.global_steps, partition_id="train", batch_size=BATCH
    )
    uids = sorted({key.split("_")[0] for key in batch.keys})
    rows = sorted(trainer.agent_loop_manager.rows[uid] for uid in uids)
    tq.kv_clear(keys=batch.keys, partition_id=batch.partition_id)
    trainer.global_steps += 1
    return rows, metrics


# -- tests ---------------------------------------------------------------------------------


def test_verl_builds_the_buffer_and_the_dataset_from_its_config(tmp_path):
    trainer = make_trainer(trainer_config(tmp_path, {"strategy": "uniform", "seed": 3}))
    buffer = trainer.replay_buffer
    assert type(buffer) is CurriculumReplayBuffer
    assert type(trainer.train_dataset).__name__ == "CurriculumRLHFDataset"
    assert trainer.train_dataset.curriculum_buffer is buffer
    assert trainer.val_dataset.curriculum_buffer is None  # same files, but not the train set
    assert buffer.curriculum.pool.size == N_PROMPTS
    assert buffer.batch_size == BATCH
    # the validation set reads its rows as they are
    assert trainer.val_dataset[5]["extra_info"]["index"] == 5
    assert ROW_KEY not in trainer.val_dataset[5]


def test_prompts_come_from_the_curriculum_and_every_group_is_observed(tmp_path):
    trainer = make_trainer(trainer_config(tmp_path, {"strategy": "uniform", "seed": 3}))
    buffer = trainer.replay_buffer
    twin = adapter.Curriculum(N_PROMPTS, "uniform", seed=3)
    for step in range(3):
        rows, metrics = train_step(trainer)
        assert rows == sorted(twin.propose(BATCH).indices.tolist())
        assert metrics["stepladder/step"] == step + 1
    stats = buffer.curriculum.stats
    assert int(stats.attempts.sum()) == 3 * BATCH * GROUP
    generated = np.bincount(list(trainer.agent_loop_manager.rows.values()), minlength=N_PROMPTS)
    assert stats.attempts.tolist() == (GROUP * generated).tolist()
    assert len(buffer._seen) <= BATCH  # only the last batch's groups, pruned at the next poll


def test_step_metrics_report_each_source(tmp_path):
    def rewards(row: int, uid: str, session: int) -> float:
        return 1.0 if row < N_PROMPTS // 2 else float(session < 1)  # easy: 4 of 4, hard: 1 of 4

    kwargs = {"strategy": "uniform", "seed": 4, "group_key": "data_source"}
    trainer = make_trainer(trainer_config(tmp_path, kwargs), Generator(rewards))
    assert trainer.replay_buffer.curriculum.pool.group_names == ["easy", "hard"]
    shares = []
    for _ in range(3):
        rows, metrics = train_step(trainer)
        hard = np.mean([row >= N_PROMPTS // 2 for row in rows])
        shares.append(hard)
        assert metrics["stepladder/source/hard/share"] == pytest.approx(hard)
        assert metrics["stepladder/source/easy/share"] == pytest.approx(1 - hard)
        if hard > 0:
            assert metrics["stepladder/source/hard/pass_rate"] == 0.25
            assert metrics["stepladder/source/hard/effective_ratio"] == 1.0
        if hard < 1:
            assert metrics["stepladder/source/easy/pass_rate"] == 1.0
            assert metrics["stepladder/source/easy/effective_ratio"] == 0.0
    assert any(0 < share < 1 for share in shares)  # both sources in one step
    # without group_key the pool has no groups and there are no per-source metrics
    plain = make_trainer(trainer_config(tmp_path, {"strategy": "uniform"}))
    assert not any("source/" in key for key in train_step(plain)[1])


def test_rewards_reach_the_curriculum_as_rm_scores_sums(tmp_path):
    generator = Generator(rewards=lambda row, uid, session: float(session < 1))  # 1 of 4
    trainer = make_trainer(trainer_config(tmp_path, {"strategy": "uniform"}), generator)
    train_step(trainer)
    stats = trainer.replay_buffer.curriculum.stats
    seen = np.flatnonzero(stats.attempts)
    assert stats.mean_reward(seen).tolist() == [0.25] * len(seen)


def test_feedback_changes_the_proposals(tmp_path):
    def run(rewards: Any) -> list[list[int]]:
        config = trainer_config(tmp_path, {"strategy": "mopps", "seed": 0})
        trainer = make_trainer(config, Generator(rewards))
        return [train_step(trainer)[0] for _ in range(4)]

    assert run(lambda row, uid, session: 0.0) != run(lambda row, uid, session: float(session % 2))


def test_filtering_evicts_rejected_groups_and_verl_refills_them(tmp_path):
    config = trainer_config(tmp_path, {"strategy": "dynamic_sampling", "seed": 1}, gen_batch_size=1)
    trainer = make_trainer(config)
    generator = trainer.agent_loop_manager
    for _ in range(3):
        before = len(generator.rows)
        rows, metrics = train_step(trainer)
        # every trained group has mixed rewards: solved-by-all and failed-by-all were evicted
        assert all(0 < row < N_PROMPTS - 1 for row in rows)
        rejected = metrics.get("training/stepladder/rejected_groups", 0)
        assert len(generator.rows) - before == BATCH + rejected  # one refill per eviction
        assert "training/rollout_failure/evicted_samples" not in metrics
    remaining = (tq.kv_list("train") or {}).get("train", {})
    assert not [key for key, tag in remaining.items() if tag.get("is_prompt")]


def test_rejections_stop_at_the_limit(tmp_path):
    kwargs = {"strategy": "dynamic_sampling", "max_rejected_per_step": 2}
    generator = Generator(rewards=lambda row, uid, session: 1.0)  # every group uniform
    trainer = make_trainer(trainer_config(tmp_path, kwargs, gen_batch_size=1), generator)
    rows, metrics = train_step(trainer)
    assert len(rows) == BATCH
    assert metrics["training/stepladder/rejected_groups"] == 2
    assert len(generator.rows) == BATCH + 2


def test_allocation_sets_each_prompts_rollout_count(tmp_path):
    trainer = make_trainer(trainer_config(tmp_path, {"strategy": "dart", "seed": 2}))
    buffer = trainer.replay_buffer
    twin = adapter.Curriculum(N_PROMPTS, "dart", seed=2)
    proposal = twin.propose(BATCH)
    train_step(trainer)
    generator = trainer.agent_loop_manager
    got = sorted((generator.rows[uid], generator.sizes[uid]) for uid in generator.rows)
    assert got == sorted(zip(proposal.indices.tolist(), proposal.rollouts.tolist(), strict=True))
    assert int(buffer.curriculum.stats.attempts.sum()) == int(proposal.rollouts.sum())


def test_allocation_can_be_ignored(tmp_path):
    kwargs = {"strategy": "dart", "allocation": "ignore"}
    trainer = make_trainer(trainer_config(tmp_path, kwargs))
    train_step(trainer)
    assert set(trainer.agent_loop_manager.sizes.values()) == {GROUP}


@pytest.mark.parametrize("stop_after", [1, 2])
def test_dataloader_checkpoint_resumes_exactly(tmp_path, stop_after):
    kwargs = {"strategy": "mopps", "seed": 5}
    straight = make_trainer(trainer_config(tmp_path, kwargs))
    expected = [train_step(straight)[0] for _ in range(4)]

    first = make_trainer(trainer_config(tmp_path, kwargs))
    got = [train_step(first)[0] for _ in range(stop_after)]
    path = tmp_path / "data.pt"
    torch.save(first.train_dataloader.state_dict(), path)  # as PPOTrainer._save_checkpoint

    second = make_trainer(trainer_config(tmp_path, kwargs))
    second.train_dataloader.load_state_dict(torch.load(path, weights_only=False))
    second.global_steps = first.global_steps
    second.agent_loop_manager.rows = dict(first.agent_loop_manager.rows)  # draws key on count
    got += [train_step(second)[0] for _ in range(4 - stop_after)]
    assert got == expected
    assert second.replay_buffer.curriculum.step == straight.replay_buffer.curriculum.step


def test_async_buffer_refills_one_for_one(tmp_path):
    config = trainer_config(tmp_path, {"strategy": "dynamic_sampling"})
    config.trainer.v1.trainer_mode = "colocate_async"
    config.trainer.v1.sampler.custom_sampler.name = "CurriculumReplayBufferAsync"
    config.data.gen_batch_size = 1  # the async trainers set this themselves
    trainer = make_trainer(config)
    assert type(trainer.replay_buffer) is CurriculumReplayBufferAsync
    rows, metrics = train_step(trainer)
    assert all(0 < row < N_PROMPTS - 1 for row in rows)
    rejected = metrics.get("training/stepladder/rejected_groups", 0)
    assert len(trainer.agent_loop_manager.rows) == BATCH + rejected


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sampler_kwargs": {"strategy": "uniform", "shuffle": True}}, "unknown"),
        ({"sampler_kwargs": {"filtering": "mask"}}, "filtering"),
        ({"sampler_kwargs": {"group_key": "source"}}, "group_key='source'"),
        ({"sampler_kwargs": {"allocation": "groups"}}, "allocation"),
        ({"data": {"dataloader_num_workers": 2}}, "dataloader_num_workers=0"),
        ({"sampler_kwargs": {"strategy": "dynamic_sampling"}}, "gen_batch_size=1"),
        ({"trainer_mode": "colocate_async"}, "CurriculumReplayBufferAsync"),
    ],
)
def test_bad_settings_are_refused(tmp_path, change, message):
    config = trainer_config(tmp_path, change.get("sampler_kwargs", {"strategy": "uniform"}))
    for key, value in change.get("data", {}).items():
        config.data[key] = value
    if "trainer_mode" in change:
        config.trainer.v1.trainer_mode = change["trainer_mode"]
    with pytest.raises(ValueError, match=message):
        make_trainer(config)


def test_a_train_dataset_without_the_buffer_is_refused(tmp_path):
    config = trainer_config(tmp_path, {})
    adapter._unbound.clear()
    adapter._bound_once = False
    with pytest.raises(RuntimeError, match="custom_sampler"):
        create_rl_dataset(config.data.train_files, config.data, tokenizer(), None)


def test_groups_without_rewards_are_refused_with_the_fix(tmp_path):
    trainer = make_trainer(trainer_config(tmp_path, {"strategy": "uniform"}))
    batch = trainer._next_train_batch(BATCH)
    uid = batch["uid"][0]
    row_field = torch.tensor([0])
    fields = list_of_dict_to_tensordict([{ROW_KEY: 0, "response_mask": row_field}])
    tq.kv_put(
        key=uid,
        partition_id="train",
        tag={"is_prompt": True, "status": "pending", "global_steps": 1},
    )
    tq.kv_batch_put(
        keys=[f"{uid}_0_0"], fields=fields, tags=[{"status": "success"}], partition_id="train"
    )
    tq.kv_put(key=uid, partition_id="train", tag={"status": "finished"})
    with pytest.raises(RuntimeError, match="enable_resource_pool"):
        trainer.replay_buffer.sample(global_steps=1, partition_id="train", batch_size=1)


def test_a_dataloader_worker_is_refused(tmp_path):
    trainer = make_trainer(trainer_config(tmp_path, {"strategy": "uniform"}))
    loader = StatefulDataLoader(
        trainer.train_dataset, batch_size=2, num_workers=1, collate_fn=collate_fn
    )
    with pytest.raises(RuntimeError, match="dataloader_num_workers=0"):
        next(iter(loader))
