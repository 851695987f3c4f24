"""Repository-level pytest configuration.

Doctests are collected from every module under src/. Adapter modules import their framework
at the top, so they are skipped where that framework is not installed (a checkout without
the `dev` extra); `make test` installs all of them.
"""

import importlib.util

_ADAPTERS = {
    "src/stepladder/integrations/torch.py": "torch",
    "src/stepladder/integrations/hf.py": "transformers",
    "src/stepladder/integrations/hf_evaluation.py": "transformers",
    "src/stepladder/integrations/trl.py": "trl",
    "src/stepladder/integrations/gym.py": "gymnasium",
    "src/stepladder/integrations/ray.py": "ray",
    "src/stepladder/integrations/verl.py": "transfer_queue",
}

collect_ignore = [
    path for path, module in _ADAPTERS.items() if importlib.util.find_spec(module) is None
]
