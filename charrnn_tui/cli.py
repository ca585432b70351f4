"""The command line. Imports nothing heavy at module level: `charrnn-tui --help` must stay fast."""

from __future__ import annotations

import argparse
import sys

from charrnn_tui.config import CELLS, DEVICES, PRESET_HELP, PRESETS, SAMPLINGS, SCHEDULES
from charrnn_tui.errors import CharRNNError

EPILOG = """\
examples:
  charrnn-tui                                        open the app
  charrnn-tui --train-only --corpus hamlet --max-seconds 180
  charrnn-tui --train-only --corpus notes.txt --preset tutorial --steps 500 --run-dir runs/notes
  charrnn-tui --train-only --resume --run-dir runs/notes --steps 1000
  charrnn-tui --generate-only --run-dir runs/notes --prime "HAMLET:" --length 400 --temperature 0.8
  charrnn-tui --list-corpora
  charrnn-tui --baseline --corpus hamlet
"""

# Flags that map one-to-one onto TrainConfig fields; None means "the preset's value".
CONFIG_FLAGS = {
    "cell": "cell", "layers": "n_layers", "hidden": "hidden", "embed": "embed", "dropout": "dropout",
    "batch_size": "batch_size", "seq_len": "seq_len", "sampling": "sampling", "val_fraction": "val_fraction",
    "lr": "lr", "lr_schedule": "lr_schedule", "warmup": "warmup_steps", "grad_clip": "grad_clip",
    "weight_decay": "weight_decay", "ema": "ema", "keep_best": "keep_best",
    "steps": "steps", "max_seconds": "max_seconds",
    "eval_interval": "eval_interval", "log_interval": "log_interval",
    "checkpoint_seconds": "checkpoint_seconds", "seed": "seed", "device": "device",
}  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="charrnn-tui",
        description="Train character-level recurrent language models (Char-RNN) and play with them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--train-only", action="store_true", help="train without the app, printing progress")
    mode.add_argument("--generate-only", action="store_true", help="generate text from a run's checkpoint")
    mode.add_argument("--list-corpora", action="store_true", help="list the built-in corpora and exit")
    mode.add_argument(
        "--baseline", action="store_true", help="print the n-gram (Kneser-Ney) baseline on the validation split"
    )

    c = p.add_argument_group("corpus")
    c.add_argument("--corpus", metavar="NAME|PATH", help="a built-in play (default: hamlet) or a text file")
    c.add_argument("--encoding", default="utf-8", help="the corpus file's text encoding (default: utf-8)")
    c.add_argument("--val-fraction", type=float, metavar="F", help="held-out tail of the text (default 0.1)")

    r = p.add_argument_group("run")
    r.add_argument(
        "--preset", default=None, choices=list(PRESETS), help="; ".join(f"{k}: {v}" for k, v in PRESET_HELP.items())
    )
    r.add_argument("--run-dir", metavar="DIR", help="the run's folder (default: a new one in the data dir)")
    r.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its checkpoint")
    r.add_argument("--steps", type=int, metavar="N", help="stop after N optimiser steps in all (0: no limit)")
    r.add_argument("--max-seconds", type=float, metavar="S", help="stop after S seconds of training (0: no limit)")
    r.add_argument("--seed", type=int, metavar="N", help="random seed (training and sampling)")
    r.add_argument("--device", choices=DEVICES, help="where to train (default: auto)")
    r.add_argument("--eval-interval", type=int, metavar="N", help="evaluate and checkpoint every N steps")
    r.add_argument("--log-interval", type=int, metavar="N", help="print and log metrics every N steps")
    r.add_argument("--checkpoint-seconds", type=float, metavar="S", help="also checkpoint every S s (0: off)")

    m = p.add_argument_group("model and optimiser (default: the preset's)")
    m.add_argument("--cell", choices=CELLS)
    m.add_argument("--layers", type=int, metavar="N")
    m.add_argument("--hidden", type=int, metavar="N")
    m.add_argument("--embed", type=int, metavar="N", help="embedding size; 0 feeds one-hot vectors")
    m.add_argument("--dropout", type=float, metavar="P")
    m.add_argument("--batch-size", type=int, metavar="N")
    m.add_argument("--seq-len", type=int, metavar="N")
    m.add_argument("--sampling", choices=SAMPLINGS, help="random windows, or streams with carried state")
    m.add_argument("--lr", type=float, metavar="LR")
    m.add_argument("--lr-schedule", choices=SCHEDULES)
    m.add_argument("--warmup", type=int, metavar="N", help="linear lr warm-up steps")
    m.add_argument("--grad-clip", type=float, metavar="X", help="clip the gradient norm at X (0: off)")
    m.add_argument("--weight-decay", type=float, metavar="X")
    m.add_argument(
        "--ema",
        type=float,
        metavar="D",
        help="evaluate and keep a running average of the weights, decay D per step (0: off)",
    )
    m.add_argument(
        "--keep-best",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="end on the weights of the best evaluation when a run overshoots it",
    )

    g = p.add_argument_group("generation")
    g.add_argument("--prime", default=None, help="text to start from (default: the corpus's opening line)")
    g.add_argument("--length", type=int, default=500, metavar="N", help="characters to generate (default 500)")
    g.add_argument("--temperature", type=float, default=0.8, metavar="T", help="0 is argmax (default 0.8)")
    g.add_argument("--top-k", type=int, default=0, metavar="K", help="sample from the K likeliest (0: all)")
    g.add_argument("--stats", action="store_true", help="print the generation speed on stderr at the end")
    g.add_argument(
        "--int8",
        action="store_true",
        help="int8 weights for generation: ~3x faster on a CPU, argmax differs at ~0.2%% of steps",
    )
    return p


def config_overrides(args: argparse.Namespace) -> dict:
    return {field: getattr(args, flag) for flag, field in CONFIG_FLAGS.items() if getattr(args, flag) is not None}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.list_corpora:
            from charrnn_tui.headless import list_corpora

            return list_corpora()
        if args.train_only:
            from charrnn_tui.headless import train

            return train(args)
        if args.generate_only:
            from charrnn_tui.headless import generate

            return generate(args)
        if args.baseline:
            from charrnn_tui.headless import baseline

            return baseline(args)
        from charrnn_tui.tui.app import run_app

        return run_app(args)
    except CharRNNError as e:
        print(f"charrnn-tui: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ncharrnn-tui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`); silence the flush at exit that would raise again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except MemoryError:
        print("charrnn-tui: error: out of memory; use a smaller model, batch or corpus", file=sys.stderr)
        return 1
    except OSError as e:
        # The environment failed under us (a full disk, a vanished folder): say what, not where in the code.
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        print(f"charrnn-tui: error: {e.strerror or e}{where}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
