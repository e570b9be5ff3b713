"""The machine and library versions, recorded beside every number recsft writes."""

from __future__ import annotations

import os
import platform


def environment() -> dict[str, str]:
    """Library versions and machine (Python, platform, torch, transformers, accelerate, CUDA
    device, CPU count, torch threads)."""
    import accelerate
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "accelerate": accelerate.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
        "cpus": str(os.cpu_count()),
        "torch_threads": str(torch.get_num_threads()),
    }
