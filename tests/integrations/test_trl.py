"""The TRL integration: sampler layout, reward capture in a real GRPOTrainer, checkpoints."""

from __future__ import annotations

import itertools
import logging
from typing import Any

import numpy as np
import pytest

pytest.importorskip("trl")

import torch
from datasets import Dataset
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
from trl import GRPOConfig, GRPOTrainer
from trl.trainer.utils import RepeatSampler

from stepladder import Curriculum, ItemPool, Outcomes, Proposal, Strategy
from stepladder.integrations.trl import (
    BUFFER_FILE,
    INDEX_COLUMN,
    STATE_FILE,
    CurriculumGRPOTrainer,
    CurriculumLink,
    CurriculumRepeatSampler,
    attach_curriculum,
    grouped_outcomes,
    groups_from_rollouts,
)

# -- helpers ---------------------------------------------------------------------------------

WORDS = ["<pad>", "<eos>", "<unk>", *"abcdefghijklmnop"]
LEVELS = ["solved"] * 4 + ["open"] * 4
PROMPTS = ["a b", "c d", "e f", "g h", "i j", "k l", "m n", "o p"]


class Sequential(Strategy):
    """Proposes 0, 1, 2, ... in order (wrapping), optionally with fixed rollout counts."""

    name = "sequential_test"

    def __init__(self, *, rollouts: tuple[int, ...] = ()) -> None:
        self.rollouts = rollouts

    def _setup(self) -> None:
        self._next = 0

    def propose(self, n: int) -> Proposal:
        indices = (self._next + np.arange(n)) % self.pool.size
        self._next += n
        counts = np.array(self.rollouts[:n], dtype=np.int64) if self.rollouts else None
        return Proposal(indices.astype(np.int64), rollouts=counts)

    def state_dict(self) -> dict[str, Any]:
        return {"next": self._next}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._next = int(state["next"])


def tokenizer() -> PreTrainedTokenizerFast:
    """A whitespace word-level tokenizer over a 19-token vocabulary, built in code."""
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece(prefix="##")  # joins tokens with spaces
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )


def tiny_model() -> GPT2LMHeadModel:
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(WORDS), n_layer=1, n_head=2, n_embd=16, n_positions=32,
        bos_token_id=1, eos_token_id=1, pad_token_id=0,
    )  # fmt: skip
    return GPT2LMHeadModel(config)


def dataset() -> Dataset:
    return Dataset.from_dict({"prompt": PROMPTS, "level": LEVELS})


def reward(prompts: list[str], completions: list[str], level: list[str], **kwargs: Any) -> list:
    """Verifiable toy reward: "solved" prompts always score 1; "open" ones score 1 when the
    completion contains the token "a"."""
    assert INDEX_COLUMN in kwargs  # the index column reaches reward functions
    return [
        1.0 if lv == "solved" else float("a" in c.split())
        for lv, c in zip(level, completions, strict=True)
    ]


def config(tmp_path: Any, **overrides: Any) -> GRPOConfig:
    settings: dict[str, Any] = {
        "output_dir": str(tmp_path),
        "use_cpu": True,
        "report_to": [],
        "bf16": False,
        "max_completion_length": 8,
        "num_generations": 4,
        "per_device_train_batch_size": 8,  # 2 prompts x 4 generations per step
        "max_steps": 3,
        "logging_steps": 1,
        "save_strategy": "no",
        "learning_rate": 1e-3,
        "seed": 0,
        "disable_tqdm": True,
    }
    settings.update(overrides)
    return GRPOConfig(**settings)


#: SEC's own rule, without the safety net a Curriculum gives it by default (which would mix
#: uniform draws into the proposals this test checks).
SEC_ALONE = {"uniform_mix": 0, "cover_groups": 0}


def curriculum(strategy: str = "sec", **params: Any) -> Curriculum:
    return Curriculum(ItemPool(size=len(PROMPTS), groups=LEVELS), strategy, seed=0, **params)


def record(cur: Curriculum) -> list[tuple[str, Any]]:
    """Log every propose and observe the curriculum receives, in order."""
    events: list[tuple[str, Any]] = []
    propose, observe = cur.propose, cur.observe

    def spy_propose(n: int) -> Proposal:
        proposal = propose(n)
        events.append(("propose", proposal.indices.copy()))
        return proposal

    def spy_observe(outcomes: Outcomes) -> None:
        events.append(("observe", outcomes))
        observe(outcomes)

    cur.propose, cur.observe = spy_propose, spy_observe
    return events


def kinds(events: list[tuple[str, Any]]) -> str:
    return "".join(kind[0] for kind, _ in events)  # "p" propose, "o" observe


# -- the sampler ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "generations", "batch", "repeats"), [(7, 2, 3, 4), (12, 3, 4, 2), (5, 1, 5, 1)]
)
def test_sampler_layout_matches_repeat_sampler(size, generations, batch, repeats):
    ours = CurriculumRepeatSampler(
        Curriculum(size, Sequential(), seed=0), generations, batch, repeats
    )
    theirs = RepeatSampler(range(size), generations, batch, repeats, shuffle=False)
    assert list(ours) == list(theirs)
    assert len(ours) == len(theirs)


def test_sampler_proposes_each_chunk_when_first_read():
    cur = Curriculum(10, "uniform", seed=0)
    events = record(cur)
    sampler = CurriculumRepeatSampler(cur, mini_repeat_count=2, batch_size=3, repeat_count=2)
    stream = iter(sampler)
    assert events == []
    first = [next(stream) for _ in range(12)]  # one chunk: 3 prompts x 2 generations x 2 repeats
    assert kinds(events) == "p"
    assert first[:6] == first[6:] and first[:6] == np.repeat(events[0][1], 2).tolist()
    cur.observe(Outcomes(events[0][1], rewards=np.ones((3, 2))))
    sampler.mark_observed()
    next(stream)
    assert kinds(events) == "pop"
    assert sampler.last_lag == 0 and sampler.drawn == 2


def test_allocation_rounds_rollouts_to_whole_groups():
    strategy = Sequential(rollouts=(12, 2, 6, 4))  # 24 rollouts over 4 groups of 6
    cur = Curriculum(8, strategy, seed=0)
    sampler = CurriculumRepeatSampler(cur, mini_repeat_count=6, batch_size=4)
    assert next(iter(sampler)) == 0
    chunk = sampler.chunk(Proposal(np.array([0, 1, 2, 3]), rollouts=np.array([12, 2, 6, 4])))
    assert chunk.tolist() == [0, 0, 2, 3]
    ignore = CurriculumRepeatSampler(cur, 6, 4, allocation="ignore")
    assert ignore.chunk(Proposal(np.arange(4), rollouts=np.ones(4))).tolist() == [0, 1, 2, 3]
    assert groups_from_rollouts([1, 1, 1, 1], 2).tolist() == [1, 1, 0, 0]
    with pytest.raises(ValueError, match="allocation"):
        CurriculumRepeatSampler(cur, 6, 4, allocation="sometimes")


def test_sampler_state_replays_the_epoch_then_continues():
    cur = Curriculum(20, "uniform", seed=3)
    sampler = CurriculumRepeatSampler(cur, mini_repeat_count=2, batch_size=2)
    stream = iter(sampler)
    seen = [next(stream) for _ in range(9)]  # 2 chunks and the first index of a third
    state, cur_state = sampler.state_dict(), cur.state_dict()
    rest = [next(stream) for _ in range(11)]
    assert state["chunks"].shape == (3, 2) and state["drawn"] == 3

    fresh_cur = Curriculum(20, "uniform", seed=3)
    fresh_cur.load_state_dict(cur_state)
    events = record(fresh_cur)
    fresh = CurriculumRepeatSampler(fresh_cur, mini_repeat_count=2, batch_size=2)
    fresh.load_state_dict(state)
    replayed = list(itertools.islice(fresh, 20))
    assert replayed == seen + rest
    assert kinds(events) == "pp"  # chunks 4 and 5 are new; the first 3 were replayed


def test_grouped_outcomes_merges_groups_and_checks_the_layout():
    out, item = grouped_outcomes(
        np.array([4, 4, 1, 1, 4, 4]),
        np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0]),
        np.array([1.0, -1.0, 0.0, 0.0, -1.0, 1.0]),
        2,
        step=5,
    )
    assert out.indices.tolist() == [4, 1] and out.step == 5
    assert np.nan_to_num(out.rewards, nan=-1).tolist() == [[1, 0, 0, 1], [1, 1, -1, -1]]
    assert out.advantages[0].tolist() == [1.0, -1.0, -1.0, 1.0]
    assert item.tolist() == [0, 0, 1, 1, 0, 0]
    with pytest.raises(RuntimeError, match="layout"):
        grouped_outcomes(np.array([1, 2]), np.zeros(2), np.zeros(2), 2)


def test_rewards_are_rescaled_and_clipped_with_a_warning(caplog):
    link = CurriculumLink(None, Curriculum(4), reward_range=(-1.0, 1.0))  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="stepladder.integrations.trl"):
        scaled = link._rescale(np.array([-1.0, 0.0, 1.0, 3.0, np.nan]))
    assert np.allclose(scaled[:4], [0.0, 0.5, 1.0, 1.0]) and np.isnan(scaled[4])
    assert "reward_range" in caplog.text
    with pytest.raises(ValueError, match="reward_range"):
        CurriculumLink(None, Curriculum(4), reward_range=(1.0, 1.0))  # type: ignore[arg-type]


# -- a real GRPOTrainer ----------------------------------------------------------------------


def test_grpo_trainer_feeds_the_curriculum_and_follows_it(tmp_path):
    cur = curriculum("sec", tau=0.02, **SEC_ALONE)
    events = record(cur)
    trainer = CurriculumGRPOTrainer(
        model=tiny_model(),
        reward_funcs=reward,
        args=config(tmp_path),
        train_dataset=dataset(),
        processing_class=tokenizer(),
        curriculum=cur,
    )
    trainer.train()

    proposals = [value for kind, value in events if kind == "propose"]
    observed = [value for kind, value in events if kind == "observe"]
    assert len(observed) == 3  # one generation per step
    # Default layout (num_iterations = steps_per_generation = gradient accumulation = 1): the
    # dataloader reads one batch ahead, so chunk k + 1 is proposed before chunk k is scored.
    assert kinds(events).startswith("ppopopo")
    for chunk, outcomes in zip(proposals, observed, strict=False):
        assert sorted(outcomes.indices.tolist()) == sorted(set(chunk.tolist()))
        assert (outcomes.rollouts == 4).all()
    trained = np.concatenate(proposals[:3])
    attempts = cur.stats.attempts
    assert set(np.flatnonzero(attempts).tolist()) == set(trained.tolist())
    assert attempts[trained].tolist() == [4 * int((trained == i).sum()) for i in trained]
    # Rewards arrive unchanged: solved prompts score 1 on every rollout.
    for outcomes in observed:
        solved = np.array([LEVELS[i] == "solved" for i in outcomes.indices])
        assert (outcomes.rewards[solved] == 1.0).all()
        assert np.allclose(outcomes.advantages[solved], 0.0)

    # Proposals are the curriculum's, made after the feedback seen by then: replaying the same
    # feedback into an identical curriculum gives the same proposals ...
    replay = curriculum("sec", tau=0.02, **SEC_ALONE)
    for kind, value in events:
        if kind == "propose":
            assert replay.propose(len(value)).indices.tolist() == value.tolist()
        else:
            replay.observe(value)
    # ... and the rewards changed them: SEC learned that only "open" prompts carry signal
    # (solved ones have zero advantage) and now proposes only those, unlike a curriculum with
    # the same seed that got no feedback.
    q = dict(zip(cur.pool.group_names, cur.strategy.q_values(), strict=True))
    assert q["solved"] == 0.0 and q["open"] > 0.0
    blind = curriculum("sec", tau=0.02, **SEC_ALONE)
    for _ in proposals:
        blind.propose(2)
    later = {LEVELS[i] for _ in range(8) for i in cur.propose(2).indices}
    blind_later = {LEVELS[i] for _ in range(8) for i in blind.propose(2).indices}
    assert later == {"open"} and blind_later == {"open", "solved"}

    logged = [entry for entry in trainer.state.log_history if "stepladder/step" in entry]
    assert [entry["stepladder/step"] for entry in logged] == [1.0, 2.0, 3.0]
    assert all("stepladder/sec/q_max" in e and "stepladder/feedback_lag" in e for e in logged)
    assert trainer.train_dataset[INDEX_COLUMN] == list(range(len(PROMPTS)))


def test_filtering_masks_rejected_groups_with_fresh_feedback(tmp_path):
    cur = curriculum("range_filter", low=0.0, high=0.8)
    events = record(cur)
    trainer = GRPOTrainer(
        model=tiny_model(),
        reward_funcs=reward,
        args=config(tmp_path, num_iterations=2, max_steps=4),
        train_dataset=dataset(),
        processing_class=tokenizer(),
    )
    link = attach_curriculum(trainer, cur, filtering="mask")
    assert trainer.stepladder is link
    outputs: list[tuple[np.ndarray, np.ndarray]] = []
    feedback = link.feedback

    def spy_feedback(output: dict[str, Any]) -> dict[str, Any]:
        before = output["advantages"].clone().numpy()
        result = feedback(output)
        outputs.append((before, result["advantages"].numpy()))
        return result

    link.feedback = spy_feedback
    trainer.train()

    # num_iterations = 2 reuses each generation for 2 steps: proposals see all feedback.
    assert kinds(events).startswith("popo")
    assert link.sampler is not None and link.sampler.last_lag == 0
    observed = [value for kind, value in events if kind == "observe"]
    assert len(observed) == 2 and len(outputs) == 2
    for outcomes, (before, after) in zip(observed, outputs, strict=True):
        keep = cur.keep(outcomes)
        rows = np.repeat(keep, outcomes.rollouts)
        assert np.array_equal(after[rows], before[rows])
        assert (after[~rows] == 0.0).all()
        assert not keep[[LEVELS[i] == "solved" for i in outcomes.indices]].any()


def test_checkpoint_resume_continues_exactly(tmp_path):
    def build(folder: Any) -> tuple[GRPOTrainer, Curriculum, list[tuple[str, Any]]]:
        cur = curriculum("mopps")
        events = record(cur)
        trainer = CurriculumGRPOTrainer(
            model=tiny_model(),
            reward_funcs=reward,
            args=config(folder, max_steps=4, save_strategy="steps", save_steps=2),
            train_dataset=dataset(),
            processing_class=tokenizer(),
            curriculum=cur,
        )
        return trainer, cur, events

    straight, cur, events = build(tmp_path / "straight")
    straight.train()
    checkpoint = tmp_path / "straight" / "checkpoint-2"
    assert (checkpoint / STATE_FILE).exists()

    resumed, cur_resumed, events_resumed = build(tmp_path / "resumed")
    resumed.train(resume_from_checkpoint=str(checkpoint))
    # The resumed run proposes and observes what the straight run did after step 2 ...
    tail = events[len(events) - len(events_resumed) :]
    assert kinds(events_resumed) == kinds(tail)
    for (_, a), (_, b) in zip(events_resumed, tail, strict=True):
        if isinstance(a, Outcomes):
            assert a.indices.tolist() == b.indices.tolist()
            assert np.array_equal(a.rewards, b.rewards)
        else:
            assert a.tolist() == b.tolist()
    # ... and ends in the same state.
    assert cur_resumed.step == cur.step == 4
    assert np.array_equal(cur_resumed.stats.attempts, cur.stats.attempts)
    assert np.array_equal(cur_resumed.stats.successes, cur.stats.successes)
    assert cur_resumed.rng.bit_generator.state == cur.rng.bit_generator.state


def test_attach_checks_the_trainer_and_dataset(tmp_path):
    def build(**overrides: Any) -> GRPOTrainer:
        return GRPOTrainer(
            model=tiny_model(),
            reward_funcs=reward,
            args=config(tmp_path, **overrides),
            train_dataset=dataset().add_column(INDEX_COLUMN, list(range(len(PROMPTS)))),
            processing_class=tokenizer(),
        )

    trainer = build()
    with pytest.raises(ValueError, match="8 rows"):
        attach_curriculum(trainer, Curriculum(9))
    with pytest.raises(TypeError, match="GRPOTrainer"):
        attach_curriculum(object(), Curriculum(8))  # type: ignore[arg-type]
    link = attach_curriculum(trainer, Curriculum(8))  # an existing index column is kept
    assert link.train_sampler().batch_size == 2 and link.sampler is link.train_sampler()
    with pytest.raises(ValueError, match="already"):
        attach_curriculum(trainer, Curriculum(8))
    with pytest.raises(ValueError, match="remove_unused_columns"):
        attach_curriculum(build(remove_unused_columns=True), Curriculum(8))


# -- refill, RLOO, resume between generations, per-source metrics --------------------------


def spy_batches(trainer: Any) -> list[dict[str, Any]]:
    """Collect every training batch the (patched) generation step returns to TRL."""
    batches: list[dict[str, Any]] = []
    generate = trainer._generate_and_score_completions

    def spy(inputs: Any) -> dict[str, Any]:
        batch = generate(inputs)
        batches.append({k: v.clone() if torch.is_tensor(v) else v for k, v in batch.items()})
        return batch

    trainer._generate_and_score_completions = spy
    return batches


def mixed_share(batches: list[dict[str, Any]], size: int = 4) -> float:
    """Share of trained groups (``size`` consecutive rows) whose advantages are not all 0."""
    groups = torch.cat([b["advantages"] for b in batches]).reshape(-1, size)
    return float((groups.abs().sum(dim=1) > 0).float().mean())


def train_filtered(tmp_path: Any, filtering: str, **options: Any) -> tuple[Any, list, list]:
    cur = curriculum("dynamic_sampling")
    events = record(cur)
    trainer = CurriculumGRPOTrainer(
        model=tiny_model(),
        reward_funcs=reward,
        args=config(tmp_path, max_steps=6),
        train_dataset=dataset(),
        processing_class=tokenizer(),
        curriculum=cur,
        filtering=filtering,
        **options,
    )
    batches = spy_batches(trainer)
    trainer.train()
    return trainer, batches, events


def test_refill_trains_only_on_kept_groups_and_logs_the_rollouts_spent(tmp_path):
    trainer, batches, events = train_filtered(
        tmp_path / "refill", "refill", oversample=3.0, max_rounds=4
    )
    link = trainer.stepladder
    observed = [value for kind, value in events if kind == "observe"]
    mixed = {}  # prompt -> mixed, per observed batch
    for outcomes in observed:
        mixed.update(zip(outcomes.indices.tolist(), outcomes.mixed.tolist(), strict=True))
    assert len(batches) == 6 and all(len(b["advantages"]) == 8 for b in batches)
    assert mixed_share(batches) == 1.0  # every trained group carries signal
    # The last trained prompts were kept: their group's rewards were mixed.
    assert len(link.trained) == 8 and all(mixed[i] for i in link.trained.tolist())
    assert all(LEVELS[i] == "open" for i in link.trained.tolist())  # "solved" always scores 1
    logged = [e for e in trainer.state.log_history if "stepladder/refill/rollouts" in e]
    assert len(logged) == 6
    for entry in logged:
        assert entry["stepladder/refill/trained_rollouts"] == 8.0
        assert entry["stepladder/refill/rollouts"] >= 24.0  # chunk + twice as many again
        assert entry["stepladder/refill/padded_groups"] == 0.0
        assert entry["stepladder/refill/kept_groups"] == 2.0
        assert entry["stepladder/source/solved/effective_ratio"] == 0.0
        shares = entry["stepladder/source/solved/share"] + entry["stepladder/source/open/share"]
        assert shares == pytest.approx(1.0)

    # With masking, the same curriculum trains on half-silent batches.
    _, masked, _ = train_filtered(tmp_path / "mask", "mask")
    assert mixed_share(masked) < 0.75


def test_refill_pads_with_the_best_rejected_groups_when_rounds_run_out(tmp_path, caplog):
    cur = curriculum("range_filter", low=0.9, high=1.0)  # keeps nothing with 0/1 rewards ...
    trainer = CurriculumGRPOTrainer(
        model=tiny_model(),
        reward_funcs=reward,
        args=config(tmp_path, max_steps=2),
        train_dataset=dataset(),
        processing_class=tokenizer(),
        curriculum=cur,
        oversample=1.5,
        max_rounds=2,
    )
    batches = spy_batches(trainer)
    with caplog.at_level(logging.WARNING, logger="stepladder.integrations.trl"):
        trainer.train()
    assert "padded" in caplog.text
    logged = [e for e in trainer.state.log_history if "stepladder/refill/rounds" in e]
    for entry in logged:
        assert entry["stepladder/refill/rounds"] == 2.0
        assert entry["stepladder/refill/padded_groups"] == 2.0
        assert entry["stepladder/refill/rollouts"] == 4 * (3 + 3)  # 3 groups, then 1.5 x 2
    # ... so each batch is filled with the rejected groups that carry the most signal.
    assert all(len(b["advantages"]) == 8 for b in batches)
    assert mixed_share(batches) > 0.0


def test_rloo_trainer_draws_from_the_curriculum_and_refills(tmp_path):
    from trl import RLOOConfig

    from stepladder.integrations.trl import CurriculumRLOOTrainer

    cur = curriculum("dynamic_sampling")
    events = record(cur)
    args = RLOOConfig(
        output_dir=str(tmp_path), use_cpu=True, report_to=[], bf16=False, beta=0.0,
        max_completion_length=8, num_generations=4, per_device_train_batch_size=8,
        max_steps=3, logging_steps=1, save_strategy="no", learning_rate=1e-3, seed=0,
        disable_tqdm=True,
    )  # fmt: skip
    trainer = CurriculumRLOOTrainer(
        model=tiny_model(),
        reward_funcs=reward,
        args=args,
        train_dataset=dataset(),
        processing_class=tokenizer(),
        curriculum=cur,
    )
    batches = spy_batches(trainer)
    trainer.train()
    assert isinstance(trainer.stepladder.sampler, CurriculumRepeatSampler)
    assert kinds(events).startswith("pppo")  # chunks 1 and 2 (read ahead), then extras
    assert len(batches) == 3 and all(len(b["old_logps"]) == 8 for b in batches)
    assert mixed_share(batches) == 1.0
    logged = [e for e in trainer.state.log_history if "stepladder/refill/rollouts" in e]
    assert len(logged) == 3 and all(e["stepladder/refill/rollouts"] > 8 for e in logged)


def test_resume_between_generations_is_exact(tmp_path):
    def build(folder: Any) -> tuple[GRPOTrainer, Curriculum, list[tuple[str, Any]]]:
        cur = curriculum("mopps")
        events = record(cur)
        trainer = CurriculumGRPOTrainer(
            model=tiny_model(),
            reward_funcs=reward,
            args=config(folder, num_iterations=2, max_steps=5, save_strategy="steps", save_steps=1),
            train_dataset=dataset(),
            processing_class=tokenizer(),
            curriculum=cur,
        )
        return trainer, cur, events

    straight, cur, events = build(tmp_path / "straight")
    straight.train()
    checkpoint = tmp_path / "straight" / "checkpoint-3"  # mid-generation: steps 2-3 share one
    assert (checkpoint / BUFFER_FILE.format(rank=0)).exists()
    assert not (tmp_path / "straight" / "checkpoint-2" / BUFFER_FILE.format(rank=0)).exists()

    resumed, cur_resumed, events_resumed = build(tmp_path / "resumed")
    resumed.train(resume_from_checkpoint=str(checkpoint))
    # One more generation (step 5), none repeated: the buffered one trains step 4.
    assert kinds(events_resumed) == "po"
    tail = events[len(events) - len(events_resumed) :]
    for (_, a), (_, b) in zip(events_resumed, tail, strict=True):
        if isinstance(a, Outcomes):
            assert a.indices.tolist() == b.indices.tolist()
            assert np.array_equal(a.rewards, b.rewards)
        else:
            assert a.tolist() == b.tolist()
    assert cur_resumed.step == cur.step == 3
    assert cur_resumed.rng.bit_generator.state == cur.rng.bit_generator.state
    for p, q in zip(straight.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_attach_refuses_refill_where_trl_cannot_split_the_batch(tmp_path):
    def build(data: Dataset) -> GRPOTrainer:
        return GRPOTrainer(
            model=tiny_model(),
            reward_funcs=reward,
            args=config(tmp_path),
            train_dataset=data,
            processing_class=tokenizer(),
        )

    trainer = build(dataset())
    trainer.args.per_device_train_batch_size = 6  # as a rank of a 2-GPU run of 12 rows
    with pytest.raises(ValueError, match=r"whole groups.*filtering='mask'"):
        attach_curriculum(trainer, curriculum("dynamic_sampling"))
    attach_curriculum(build(dataset()), curriculum("sec"))  # nothing to refill: accepted
    images = dataset().add_column("image", [None] * len(PROMPTS))
    with pytest.raises(ValueError, match=r"multimodal.*filtering='mask'"):
        attach_curriculum(build(images), curriculum("dynamic_sampling"))
    assert attach_curriculum(build(images), curriculum("dynamic_sampling"), filtering="mask")
    with pytest.raises(ValueError, match="oversample"):
        attach_curriculum(build(dataset()), curriculum("vcrl"), oversample=0.5)
