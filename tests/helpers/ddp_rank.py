"""Run by tests/training/test_distributed.py under torchrun, once per rank: trains as `--train-only` does, then
saves this rank's weights to OUT/rank<RANK>.pt so the test can compare the ranks.

usage: torchrun ... tests/helpers/ddp_rank.py OUT [charrnn-tui training flags]   (or plain python: one process)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from charrnn_tui.cli import build_parser, config_overrides
from charrnn_tui.core.config import DEFAULT_PRESET, preset
from charrnn_tui.core.events import Failed
from charrnn_tui.text.corpus import load_corpus
from charrnn_tui.training.trainer import Trainer


def main() -> int:
    out, rank = Path(sys.argv[1]), os.environ.get("RANK", "0")
    args = build_parser().parse_args(sys.argv[2:])
    config = preset(args.preset or DEFAULT_PRESET).with_overrides(**config_overrides(args))
    trainer = Trainer(load_corpus(args.corpus), config, args.run_dir, resume=args.resume)
    result = trainer.run()
    if isinstance(result, Failed):
        print(f"rank {rank}: {result.message}\n{result.details}", file=sys.stderr)
        return 1
    model, _ = trainer.snapshot()
    torch.save(model.state_dict(), out / f"rank{rank}.pt")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
