"""CurriculumSampler with real DataLoaders: exact resume, sharding, feedback, gathering."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
datasets = pytest.importorskip("sklearn.datasets")

import torch.nn.functional as F  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from stepladder import Curriculum, ItemPool, load_state, save_state, strategies  # noqa: E402
from stepladder.integrations.torch import (  # noqa: E402
    CurriculumSampler,
    IndexedDataset,
    gather_feedback,
)

pytestmark = pytest.mark.filterwarnings("ignore:'set_vital' is deprecated:UserWarning")

N_ITEMS = 300
BATCH = 32
EPOCHS = 2
# Feedback-free baselines, plus feedback-driven and weighting strategies where registered.
STRATEGIES = [
    name
    for name in ("uniform", "easy_to_hard", "mopps", "self_paced")
    if name in strategies.available()
]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one intra-op thread is fastest, and immune to a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    x, y = datasets.load_digits(return_X_y=True)
    return (
        torch.tensor(x[:N_ITEMS] / 16.0, dtype=torch.float32),
        torch.tensor(y[:N_ITEMS], dtype=torch.long),
    )


X, Y = digits()
torch.manual_seed(0)
JUDGE = torch.nn.Linear(64, 10)  # a fixed model: feedback is a pure function of the item


def feedback(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        logits = JUDGE(x)
    return F.cross_entropy(logits, y, reduction="none"), (logits.argmax(1) == y).float()


DIFFICULTY = feedback(X, Y)[0].numpy()


def make_sampler(strategy: str, **kwargs: Any) -> CurriculumSampler:
    pool = ItemPool(size=N_ITEMS, difficulty=DIFFICULTY)
    return CurriculumSampler(pool, strategy, batch_size=BATCH, seed=7, **kwargs)


def plain_loader(sampler: CurriculumSampler) -> DataLoader:
    return DataLoader(IndexedDataset(TensorDataset(X, Y)), batch_size=BATCH, sampler=sampler)


def stateful_loader(sampler: CurriculumSampler, num_workers: int = 0) -> Any:
    stateful = pytest.importorskip("torchdata.stateful_dataloader")
    return stateful.StatefulDataLoader(
        IndexedDataset(TensorDataset(X, Y)),
        batch_size=BATCH,
        sampler=sampler,
        num_workers=num_workers,
    )


def train(
    strategy: str,
    make_loader: Callable[[CurriculumSampler], Any],
    *,
    stop_after: int | None = None,
    resume: dict[str, Any] | None = None,
    save: str = "sampler",
) -> tuple[list[list[float]], dict[str, Any]]:
    """Run EPOCHS epochs with feedback after every batch; optionally stop or resume.

    ``save``: what the checkpoint holds: ``"sampler"`` (its state_dict), ``"loader"`` (the
    StatefulDataLoader's state_dict) or ``"loader+sampler"`` (``sampler.loader_state_dict``).
    Returns the batches seen (indices, then their loss weights) and, when stopped, the
    checkpoint (epoch plus state), else the final sampler state.
    """
    loader_state = save != "sampler"
    sampler = make_sampler(strategy)
    loader = make_loader(sampler)
    first_epoch = 0
    if resume is not None:
        first_epoch = resume["epoch"]
        target = loader if loader_state else sampler
        target.load_state_dict(resume["state"])
    seen: list[list[float]] = []
    for epoch in range(first_epoch, EPOCHS):
        sampler.set_epoch(epoch)
        for indices, (x, y) in loader:
            losses, correct = feedback(x, y)
            seen.append(indices.tolist() + sampler.weights_for(indices).tolist())
            sampler.observe(indices, losses=losses, correct=correct)
            if stop_after is not None and len(seen) == stop_after:
                if save == "sampler":
                    state = sampler.state_dict()
                elif save == "loader":
                    state = loader.state_dict()
                else:
                    state = sampler.loader_state_dict(loader)
                return seen, {"epoch": epoch, "state": state}
    return seen, sampler.state_dict()


def assert_same_state(a: Any, b: Any, where: str = "state") -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_same_state(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_state(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor | np.ndarray):
        x, y = np.asarray(a), np.asarray(b)
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), where  # NaN fills match
    else:
        assert a == b, where


def roundtrip(checkpoint: dict[str, Any], tmp_path: Any) -> dict[str, Any]:
    """Through disk, the way a training script saves it (torch.load's safe default)."""
    torch.save(checkpoint, tmp_path / "checkpoint.pt")
    return torch.load(tmp_path / "checkpoint.pt")


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("stop_after", [3, 10, 14])  # mid-epoch, end of epoch 0, epoch 1
def test_dataloader_resume_equals_uninterrupted(strategy: str, stop_after: int, tmp_path) -> None:
    full, final = train(strategy, plain_loader)
    head, checkpoint = train(strategy, plain_loader, stop_after=stop_after)
    tail, resumed_final = train(strategy, plain_loader, resume=roundtrip(checkpoint, tmp_path))
    assert len(full) == EPOCHS * -(-N_ITEMS // BATCH)
    assert head + tail == full
    assert_same_state(resumed_final, final)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("stop_after", [5, 10, 12])  # mid-epoch, last batch of epoch 0, epoch 1
def test_stateful_dataloader_resume_equals_uninterrupted(
    strategy: str, stop_after: int, tmp_path
) -> None:
    full, final = train(strategy, stateful_loader)
    head, checkpoint = train(strategy, stateful_loader, stop_after=stop_after, save="loader")
    tail, resumed_final = train(
        strategy, stateful_loader, resume=roundtrip(checkpoint, tmp_path), save="loader"
    )
    assert head + tail == full
    assert_same_state(resumed_final, final)


def with_workers(sampler: CurriculumSampler) -> Any:
    return stateful_loader(sampler, num_workers=2)  # 4 batches in flight


@pytest.mark.parametrize("strategy", ["uniform", "mopps"])
def test_stateful_dataloader_with_workers_resumes_exactly(strategy: str, tmp_path) -> None:
    """With workers the loader snapshots its sampler when it requests a batch, before the
    feedback of the batches in flight arrives; loader_state_dict brings that part up to date."""
    if strategy not in strategies.available():
        pytest.skip(f"{strategy} not registered")
    full, final = train(strategy, with_workers)
    head, checkpoint = train(strategy, with_workers, stop_after=6, save="loader+sampler")
    tail, resumed_final = train(
        strategy, with_workers, resume=roundtrip(checkpoint, tmp_path), save="loader+sampler"
    )
    assert head + tail == full
    assert_same_state(resumed_final, final)


def sampler_part(state: Any) -> Any:
    """The CurriculumSampler's state inside a StatefulDataLoader's state."""
    if isinstance(state, dict):
        if state.get("kind") == "stepladder.CurriculumSampler":
            return state
        for value in state.values():
            found = sampler_part(value)
            if found is not None:
                return found
    return None


def test_plain_loader_state_with_workers_fails_loudly(tmp_path) -> None:
    """The loader's own state_dict with workers snapshots the sampler when it requests a batch,
    before the feedback of the batches in flight arrives: loading it raises (it used to resume
    silently with that feedback missing); allow_stale=True loads it as it is."""
    head, checkpoint = train("mopps", with_workers, stop_after=6, save="loader")
    checkpoint = roundtrip(checkpoint, tmp_path)
    with pytest.raises(ValueError, match=r"loader_state_dict\(loader\)"):
        train("mopps", with_workers, resume=checkpoint, save="loader")
    node = sampler_part(checkpoint["state"])
    sampler = make_sampler("mopps")
    sampler.load_state_dict(node, allow_stale=True)
    in_flight = 2 * 2  # num_workers * prefetch_factor
    assert sampler.curriculum.step == len(head) - in_flight - 1


def test_sampler_state_without_workers_is_not_marked_stale(tmp_path) -> None:
    _, checkpoint = train("mopps", stateful_loader, stop_after=5, save="loader")
    assert sampler_part(checkpoint["state"])["prefetched"] is False
    _, direct = train("mopps", with_workers, stop_after=5, save="sampler")
    assert direct["state"]["prefetched"] is False


def test_state_survives_save_state_and_a_fresh_process_layout(tmp_path) -> None:
    sampler = make_sampler("easy_to_hard")
    iterator = iter(sampler)
    taken = [next(iterator) for _ in range(40)]
    sampler.observe(taken, losses=DIFFICULTY[taken])
    from stepladder.integrations.torch import _to_numpy

    save_state(tmp_path / "sampler.npz", _to_numpy(sampler.state_dict()))
    fresh = make_sampler("easy_to_hard")
    fresh.load_state_dict(load_state(tmp_path / "sampler.npz"))
    assert list(fresh) == list(iterator)


def test_two_ranks_take_disjoint_slices_of_one_global_order() -> None:
    ranks = [make_sampler("uniform", num_replicas=2, rank=r) for r in (0, 1)]
    reference = CurriculumSampler(
        ItemPool(size=N_ITEMS, difficulty=DIFFICULTY), "uniform", batch_size=2 * BATCH, seed=7
    )
    assert len(ranks[0]) == len(ranks[1]) == N_ITEMS // 2
    for epoch in range(EPOCHS):
        for sampler in [*ranks, reference]:
            sampler.set_epoch(epoch)
        loaders = [plain_loader(s) for s in ranks]
        global_loader = DataLoader(
            IndexedDataset(TensorDataset(X, Y)), batch_size=2 * BATCH, sampler=reference
        )
        covered: list[int] = []
        for (i0, (x0, y0)), (i1, (x1, y1)), (ig, _) in zip(*loaders, global_loader, strict=True):
            assert set(i0.tolist()).isdisjoint(i1.tolist())
            assert i0.tolist() == ig[0::2].tolist() and i1.tolist() == ig[1::2].tolist()
            covered += i0.tolist() + i1.tolist()
            # What gather_feedback returns on every rank: rank 0's items, then rank 1's.
            indices = torch.cat([i0, i1])
            losses = torch.cat([feedback(x0, y0)[0], feedback(x1, y1)[0]])
            for sampler in ranks:
                sampler.observe(indices, losses=losses, gather=False)
            reference.observe(indices, losses=losses)
        assert sorted(covered) == list(range(N_ITEMS))  # uniform: every item once per epoch
    assert_same_state(ranks[0].state_dict(), ranks[1].state_dict())


@pytest.mark.parametrize(("drop_last", "per_rank"), [(False, 101), (True, 100)])
def test_uneven_sizes_pad_or_drop_like_distributed_sampler(drop_last: bool, per_rank: int) -> None:
    ranks = [
        CurriculumSampler(201, batch_size=16, num_replicas=2, rank=r, drop_last=drop_last)
        for r in (0, 1)
    ]
    orders = [list(s) for s in ranks]
    assert [len(s) for s in ranks] == [per_rank, per_rank]
    assert [len(o) for o in orders] == [per_rank, per_rank]
    union = set(orders[0]) | set(orders[1])
    assert len(union) == min(201, 2 * per_rank)


def test_weighting_strategy_weights_reach_the_loop() -> None:
    if "self_paced" not in strategies.available():
        pytest.skip("self_paced not registered")
    sampler = make_sampler("self_paced")
    assert not sampler.weighted
    for indices in torch.utils.data.BatchSampler(sampler, BATCH, drop_last=False):
        proposal = sampler.last_proposal
        assert proposal.indices.tolist() == indices
        assert sampler.weighted == (proposal.weights is not None)
        if proposal.weights is not None:
            assert sampler.weights_for(indices).tolist() == proposal.weights.tolist()
        sampler.observe(indices, losses=DIFFICULTY[indices])


def test_observe_accepts_correctness_as_rewards() -> None:
    sampler = CurriculumSampler(10, batch_size=4)
    sampler.observe(torch.tensor([1, 2]), correct=torch.tensor([True, False]))
    assert sampler.curriculum.stats.mean_reward([1, 2]).tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="rewards"):
        sampler.observe([1], correct=[2.0])


def test_metrics_report_each_source_of_the_last_observed_batch() -> None:
    pool = ItemPool(size=6, groups=["math", "math", "math", "code", "code", "chat"])
    sampler = CurriculumSampler(pool, batch_size=4)
    assert not any(key.startswith("source/") for key in sampler.metrics())
    sampler.observe([0, 1, 3, 4], correct=[1.0, 0.0, 0.0, 0.0])
    sources = {k: v for k, v in sampler.metrics().items() if k.startswith("source/")}
    assert sources == {
        "source/math/share": 0.5,
        "source/code/share": 0.5,
        "source/chat/share": 0.0,
        "source/math/pass_rate": 0.5,
        "source/code/pass_rate": 0.0,
    }
    # the next batch replaces them; without correctness only the shares remain
    sampler.observe([5, 2, 2], losses=[0.1, 0.2, 0.3])
    sources = {k: v for k, v in sampler.metrics().items() if k.startswith("source/")}
    assert sources == pytest.approx(
        {"source/math/share": 2 / 3, "source/code/share": 0.0, "source/chat/share": 1 / 3}
    )
    # rollout groups per item (correct of shape (n, G)) also give the effective ratio
    sampler.observe([0, 3], correct=[[1.0, 0.0], [1.0, 1.0]])
    assert sampler.metrics()["source/math/effective_ratio"] == 1.0
    assert sampler.metrics()["source/code/effective_ratio"] == 0.0
    # a pool without groups has no per-source metrics
    plain = CurriculumSampler(6, batch_size=2)
    plain.observe([0, 1], correct=[1.0, 0.0])
    assert not any(key.startswith("source/") for key in plain.metrics())


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="rank"):
        CurriculumSampler(10, batch_size=2, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="batch_size"):
        CurriculumSampler(10, batch_size=0)
    with pytest.raises(ValueError, match="not both"):
        CurriculumSampler(Curriculum(10), "uniform", batch_size=2)
    with pytest.raises(ValueError, match="seed=None"):
        CurriculumSampler(10, batch_size=2, seed=None, num_replicas=2, rank=0)
    with pytest.raises(ValueError, match="nothing"):
        CurriculumSampler(1, batch_size=1, num_replicas=2, rank=0, drop_last=True)
    assert len(CurriculumSampler(TensorDataset(X, Y), batch_size=8)) == N_ITEMS


def test_changed_layout_keeps_the_curriculum_and_starts_a_new_epoch() -> None:
    sampler = CurriculumSampler(50, batch_size=5)
    iterator = iter(sampler)
    [next(iterator) for _ in range(7)]
    other = CurriculumSampler(50, batch_size=10)
    with pytest.warns(UserWarning, match="not resumed"):
        other.load_state_dict(sampler.state_dict())
    assert (
        other.curriculum.state_dict()["strategy_state"]
        == (sampler.curriculum.state_dict()["strategy_state"])
    )
    assert len(list(other)) == 50


def _distributed_worker(rank: int, store: str, out: str) -> None:
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"
    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{store}", rank=rank, world_size=2
    )
    try:
        sampler = CurriculumSampler(40, "uniform", batch_size=4, seed=3)  # ranks from the group
        order = []
        for indices in torch.utils.data.BatchSampler(sampler, 4, drop_last=False):
            order += indices
            sampler.observe(indices, losses=[float(i) for i in indices])  # gathered for us
        gathered = gather_feedback([rank], losses=[float(rank)])
        # A rank with nothing to report this step may leave out the fields.
        ragged = gather_feedback([], losses=None) if rank else gather_feedback([7], losses=[0.5])
        torch.save(
            {
                "order": order,
                "gathered": gathered["indices"].tolist(),
                "ragged": (ragged["indices"].tolist(), ragged["losses"].tolist()),
                "state": sampler.state_dict(),
            },
            f"{out}/rank{rank}.pt",
        )
    finally:
        torch.distributed.destroy_process_group()


def test_real_process_group_gathers_feedback_and_keeps_ranks_in_step(tmp_path) -> None:
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not available")
    workers = torch.multiprocessing.start_processes(
        _distributed_worker,
        args=(str(tmp_path / "store"), str(tmp_path)),
        nprocs=2,
        join=False,
        start_method="fork",  # no re-import of torch in the children: a second, not ten
    )
    deadline = time.monotonic() + 120
    while not workers.join(timeout=1):
        if time.monotonic() > deadline:
            for process in workers.processes:
                process.kill()
            pytest.fail("the two ranks did not finish within 120 s")
    results = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    assert results[0]["gathered"] == results[1]["gathered"] == [0, 1]
    assert results[0]["ragged"] == results[1]["ragged"] == ([7], [0.5])
    assert sorted(results[0]["order"] + results[1]["order"]) == list(range(40))
    assert_same_state(results[0]["state"], results[1]["state"])
    assert int(results[0]["state"]["curriculum"]["step"]) == 5
