"""GPU check of the verl adapter: two real GRPO steps of verl's v1 trainer with stepladder's
replay buffer and dataset, on a tiny randomly initialised model built here (nothing is
downloaded).

    python benchmarks/verl_gpu_check.py [--strategy dynamic_sampling] [--workdir DIR]

It runs ``python -m verl.trainer.main_ppo`` with the overrides that docs/integrations.md
documents, then checks that the curriculum drew the prompts and observed the groups
(``stepladder/step`` in the step metrics), that filtering evicted and refilled through verl
(``training/stepladder/rejected_groups`` where the strategy rejected any), and that the
checkpoint's ``data.pt`` carries the curriculum's state. It needs a CUDA GPU, verl 0.9 with
its v1 trainer, TransferQueue and vLLM; without them it says what is missing and exits 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REWARD = '''
def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    """Parity of the response length: a reward that varies within a group."""
    return float(len(solution_str) % 2)
'''


def missing() -> list[str]:
    """What this check needs and this machine lacks."""
    lacks = [
        name
        for name in ("torch", "verl", "transfer_queue", "vllm", "hydra")
        if importlib.util.find_spec(name) is None
    ]
    if "torch" not in lacks:
        import torch

        if not torch.cuda.is_available():
            lacks.append("a CUDA GPU")
    return lacks


def tiny_model(folder: Path) -> None:
    """A 2-layer Qwen2 with random weights and a word-level tokenizer with a chat template."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    words = ["<pad>", "<eos>", "<unk>", "user", "assistant", ":", "add", "and"]
    words += [str(i) for i in range(100)]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )
    tokenizer.chat_template = (
        "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} {% endfor %}"
        "{% if add_generation_prompt %}assistant : {% endif %}"
    )
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=128,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=1,
        tie_word_embeddings=True,
    )
    Qwen2ForCausalLM(config).to(torch.bfloat16).save_pretrained(folder)


def data(folder: Path, n: int = 64) -> tuple[Path, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "prompt": [[{"role": "user", "content": f"add {i} and {i}"}] for i in range(n)],
            "data_source": ["toy"] * n,
            "reward_model": [{"style": "rule", "ground_truth": str(2 * i)} for i in range(n)],
            "extra_info": [{"index": i} for i in range(n)],
        }
    )
    train, val = folder / "train.parquet", folder / "val.parquet"
    pq.write_table(table, train)
    pq.write_table(table.slice(0, 8), val)
    return train, val


def overrides(work: Path, strategy: str) -> list[str]:
    model, (train, val) = work / "model", data(work)
    reward = work / "reward.py"
    reward.write_text(REWARD)
    batch, group = 4, 4
    return [
        "trainer.use_v1=true",
        "trainer.v1.trainer_mode=sync",
        "trainer.v1.sampler.custom_sampler.path=pkg://stepladder.integrations.verl",
        "trainer.v1.sampler.custom_sampler.name=CurriculumReplayBuffer",
        f"+trainer.v1.sampler.sampler_kwargs.strategy={strategy}",
        "+trainer.v1.sampler.sampler_kwargs.seed=0",
        f"+trainer.v1.sampler.sampler_kwargs.max_rejected_per_step={4 * batch}",
        "data.custom_cls.path=pkg://stepladder.integrations.verl",
        "data.custom_cls.name=CurriculumRLHFDataset",
        "data.dataloader_num_workers=0",
        "data.gen_batch_size=1",
        f"data.train_files={train}",
        f"data.val_files={val}",
        f"data.train_batch_size={batch}",
        "data.max_prompt_length=32",
        "data.max_response_length=16",
        "data.filter_overlong_prompts=false",
        "algorithm.adv_estimator=grpo",
        f"actor_rollout_ref.model.path={model}",
        f"actor_rollout_ref.rollout.n={group}",
        "actor_rollout_ref.rollout.name=vllm",
        "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
        "actor_rollout_ref.rollout.gpu_memory_utilization=0.3",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=4",
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=4",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={batch}",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4",
        "actor_rollout_ref.actor.use_kl_loss=false",
        f"reward.custom_reward_function.path={reward}",
        "reward.custom_reward_function.name=compute_score",
        "trainer.n_gpus_per_node=1",
        "trainer.nnodes=1",
        "trainer.total_training_steps=2",
        "trainer.save_freq=2",
        "trainer.test_freq=-1",
        "trainer.val_before_train=false",
        "trainer.logger=[console]",
        f"trainer.default_local_dir={work / 'checkpoints'}",
        "trainer.project_name=stepladder_gpu_check",
        "trainer.experiment_name=verl_v1",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategy", default="dynamic_sampling")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--timeout", type=float, default=540.0)
    args = parser.parse_args()
    lacks = missing()
    if lacks:
        print(f"verl GPU check skipped: this machine lacks {', '.join(lacks)}")
        return 2
    work = Path(args.workdir or tempfile.mkdtemp(prefix="verl_gpu_check_"))
    (work / "model").mkdir(parents=True, exist_ok=True)
    tiny_model(work / "model")
    command = [sys.executable, "-m", "verl.trainer.main_ppo", *overrides(work, args.strategy)]
    print("running:", " ".join(command), flush=True)
    run = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, check=False)
    log = run.stdout + run.stderr
    (work / "run.log").write_text(log)
    checks = {
        "trainer exited 0": run.returncode == 0,
        "curriculum metrics logged": "stepladder/step" in log,
    }
    steps = [float(m) for m in re.findall(r"stepladder/step:(\d+(?:\.\d+)?)", log)]
    checks["curriculum observed groups"] = bool(steps) and max(steps) > 0
    rejected = re.findall(r"training/stepladder/rejected_groups:(\d+)", log)
    data_pt = work / "checkpoints" / "global_step_2" / "data.pt"
    if data_pt.exists():
        import torch

        state = torch.load(data_pt, weights_only=False)
        saved = state.get("dataset_state") or {}
        checks["data.pt holds the curriculum"] = saved.get("curriculum", {}).get("step", 0) > 0
    else:
        checks["data.pt holds the curriculum"] = False
    report = {"workdir": str(work), "rejected_groups": rejected, "checks": checks}
    print(json.dumps(report, indent=2))
    if not all(checks.values()):
        print(f"verl GPU check FAILED; log: {work / 'run.log'}\n{log[-4000:]}")
        return 1
    print("verl GPU check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
