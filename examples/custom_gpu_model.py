"""Load a user's own GPU model file and print it with the constants constraint models use.

    python examples/custom_gpu_model.py [path/to/model.toml]

The GPU need not be present: the model file (here examples/my_gpu.toml) is all that is needed.
"""
from __future__ import annotations

import sys
from pathlib import Path

import hwmodels
from hwmodels.cli import describe


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else Path(__file__).with_name("my_gpu.toml")
    try:
        gpu = hwmodels.load(path)
    except hwmodels.HwModelsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(describe(gpu, hwmodels.constants(gpu)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
