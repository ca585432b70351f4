"""The command line. Imports nothing heavy at module level: `charrnn-tui --help` must stay fast."""

from __future__ import annotations

import argparse
import functools
import re
import shutil
import sys
import textwrap
from pathlib import Path
from typing import IO, Any, NoReturn

from charrnn_tui.core.config import (
    CELLS,
    DEFAULT_PRESET,
    DEVICES,
    OPTIMIZERS,
    PRECISIONS,
    PRESET_HELP,
    PRESETS,
    RESUME_OVERRIDABLE,
    SAMPLINGS,
    SCHEDULES,
)
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.core.requests import (
    AppRequest,
    BaselineRequest,
    GenerateRequest,
    ListCorporaRequest,
    Request,
    TrainRequest,
)
from charrnn_tui.present.safetext import configure_streams, encodable, escape, write_line

DESCRIPTION = "Train character-level recurrent language models (Char-RNN) and play with them."

EPILOG = """\
examples:
  charrnn-tui                                        open the app
  charrnn-tui --train-only --corpus hamlet --max-seconds 180
  charrnn-tui --train-only --corpus notes.txt --preset tutorial --steps 500 \\
      --run-dir runs/notes
  charrnn-tui --train-only --resume --run-dir runs/notes --steps 1000
  charrnn-tui --generate-only --run-dir runs/notes --prime "HAMLET:" \\
      --length 400 --temperature 0.8
  charrnn-tui --list-corpora
  charrnn-tui --baseline --corpus hamlet

output:
  Text from a corpus, a checkpoint or the model is untrusted. On a terminal,
  control characters in it are shown visibly, never obeyed: ESC as ␛, BEL as ␇
  (the Unicode control pictures), C1 controls, bidi overrides and line
  separators as ⟨U+202E⟩; joiners, combining marks and variation selectors stay,
  so Persian, Indic and emoji text reads as written. Generated text written to a
  file or a pipe is data and stays unchanged. Progress, notes and errors are
  always escaped. Characters the output encoding cannot represent
  (PYTHONIOENCODING=ascii, a cp1252 console) are written as backslash escapes
  (\\u2605) rather than ending the run; set PYTHONIOENCODING=utf-8 to keep them.

threads:
  On a CPU, training times one thread per core against fewer as it trains, and
  keeps the fastest: fewer while another program keeps the cores busy.
  OMP_NUM_THREADS=N pins the count (torchrun sets it).
"""

# Flags that map one-to-one onto TrainConfig fields; None means "the preset's value".
CONFIG_FLAGS = {
    "cell": "cell", "layers": "n_layers", "hidden": "hidden", "embed": "embed", "dropout": "dropout",
    "weight_drop": "weight_drop", "embed_dropout": "embed_dropout", "locked_dropout": "locked_dropout",
    "optimizer": "optimizer",
    "batch_size": "batch_size", "seq_len": "seq_len", "sampling": "sampling", "val_fraction": "val_fraction",
    "lr": "lr", "lr_schedule": "lr_schedule", "warmup": "warmup_steps", "grad_clip": "grad_clip",
    "weight_decay": "weight_decay", "adam_beta2": "adam_beta2", "ema": "ema", "keep_best": "keep_best",
    "steps": "steps", "max_seconds": "max_seconds", "patience": "patience",
    "eval_interval": "eval_interval", "log_interval": "log_interval",
    "checkpoint_seconds": "checkpoint_seconds", "seed": "seed", "device": "device", "precision": "precision",
}  # fmt: skip


class Parser(argparse.ArgumentParser):
    """argparse whose every message passes through safetext.escape on its way to the terminal. Its errors quote
    what was typed (`unrecognized arguments: ...`, `ambiguous option: ...`, `invalid choice: ...`), and
    arguments often come from scripts, with file names in them: an ESC or a C1 control there would otherwise
    be obeyed (an OSC sequence retitles the terminal or writes the clipboard) instead of shown."""

    def error(self, message: str) -> NoReturn:
        # One line, as write_line writes errors: a newline inside an argument cannot forge a line of its own.
        super().error(escape(message, newlines=False))

    def _print_message(self, message: str, file: IO[str] | None = None) -> None:
        # The one place argparse writes through (usage, help, error and exit messages alike); private, but
        # unchanged since Python 3.2, and tests/test_cli.py fails if a new Python stops calling it.
        if message:
            file = file or sys.stderr
            super()._print_message(encodable(escape(message), file), file)


PROG = "charrnn-tui"
PROSE_WIDTH = 78  # the epilog's prose: a readable measure on a wide terminal
_USAGE_PART = re.compile(r"\(.*?\)+(?=\s|$)|\[.*?\]+(?=\s|$)|\S+")  # argparse's own split of a usage


def build_parser() -> argparse.ArgumentParser:
    """The command line: one mode, then the corpus, run, model and generation options, in --help's order.

    --help and the usage of an error message fit the terminal's width through argparse's public means only
    (the methods of its formatters are implementation details that may change in any Python): the width
    argparse itself would take (COLUMNS - 2) goes to the formatter, the description and the epilog are
    filled to it here, and where argparse's usage would overflow it, the usage is laid out again and given
    as `usage`. So the usage is fixed when this returns: an option added later shows in --help, not in it.
    """
    width = shutil.get_terminal_size().columns - 2  # what argparse's formatter takes when given none
    p = Parser(
        prog=PROG,
        description=fill_text(DESCRIPTION, width),
        epilog=fill_text(EPILOG, width),
        formatter_class=functools.partial(argparse.RawDescriptionHelpFormatter, width=width),
    )
    _add_modes(p)
    _add_corpus_options(p)
    _add_run_options(p)
    _add_model_options(p)
    _add_generation_options(p)
    p.usage = fitted_usage(p.format_usage(), width)
    return p


def fitted_usage(text: str, width: int) -> str | None:
    """argparse's usage `text` ("usage: PROG ...") as an explicit usage of lines at most `width` long, or None
    where every line of it already fits (argparse's own layout stays: the lines aligned under the program's
    name). argparse never breaks inside one [...] group, so the group of the modes, 62 columns, reached column
    81 at COLUMNS=80; here the lines are indented by the "usage: " prefix instead, still whole groups.

    Derived from the parser, not written out by hand: a hand-kept usage of 48 options, their choices copied
    from core.config, would fall behind the parser, and one fixed layout cannot be argparse's at 120 columns
    and fit at 60."""
    width = max(width, 11)  # argparse's floor for a line of text
    if all(len(line) <= width for line in text.splitlines()):
        return None
    prefix = "usage: "
    body = " ".join(text.removeprefix(prefix).split()).removeprefix(PROG)
    lines, indent = [prefix + PROG], " " * len(prefix)
    for part in _USAGE_PART.findall(body):
        if len(lines[-1]) + 1 + len(part) <= width:
            lines[-1] += " " + part
        else:
            lines.append(indent + part)
    # argparse adds the prefix itself and %-formats an explicit usage (with prog=): a % in a metavar stays one.
    return "\n".join(lines).removeprefix(prefix).replace("%", "%%")


def fill_text(text: str, width: int) -> str:
    """The description or the epilog for a RawDescriptionHelpFormatter, which prints them as given: the prose
    filled to `width` (at most PROSE_WIDTH), a paragraph of example commands as written: a command to copy is
    never broken."""
    paragraphs = []
    for paragraph in text.strip("\n").split("\n\n"):
        lines = paragraph.splitlines()
        if any(line.lstrip().startswith(PROG + " ") for line in lines):
            paragraphs.append("\n".join(lines))  # commands, as written
            continue
        heading = lines.pop(0) if len(lines) > 1 and lines[0].endswith(":") else None
        body_indent = "  " if heading else ""
        filled = textwrap.fill(
            " ".join(" ".join(lines).split()),
            min(max(width, 11), PROSE_WIDTH),  # argparse's floor for a line of text
            initial_indent=body_indent,
            subsequent_indent=body_indent,
        )
        paragraphs.append(f"{heading}\n{filled}" if heading else filled)
    return "\n\n".join(paragraphs) + "\n"


def _add_modes(p: argparse.ArgumentParser) -> None:
    """What to do instead of opening the app, one at most."""
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--train-only", action="store_true", help="train without the app, printing progress")
    mode.add_argument("--generate-only", action="store_true", help="generate text from a run's checkpoint")
    mode.add_argument("--list-corpora", action="store_true", help="list the built-in corpora and exit")
    mode.add_argument(
        "--baseline", action="store_true", help="print the n-gram (Kneser-Ney) baseline on the validation split"
    )


def _add_corpus_options(p: argparse.ArgumentParser) -> None:
    """Which text to train on, and how to read it."""
    c = p.add_argument_group("corpus")
    c.add_argument("--corpus", metavar="NAME|PATH", help="a built-in play (default: hamlet) or a text file")
    c.add_argument(
        "--encoding", help="the corpus file's text encoding (default: utf-8; on --resume, the one the run recorded)"
    )
    c.add_argument("--val-fraction", type=float, metavar="F", help="held-out tail of the text (default 0.1)")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """A run's preset, folder, budget and schedule of evaluations, logs and checkpoints."""
    r = p.add_argument_group("run")
    r.add_argument(
        "--preset", default=None, choices=list(PRESETS), help="; ".join(f"{k}: {v}" for k, v in PRESET_HELP.items())
    )
    r.add_argument("--run-dir", metavar="DIR", help="the run's folder (default: a new one in the data dir)")
    r.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its checkpoint")
    r.add_argument("--steps", type=int, metavar="N", help="stop after N optimiser steps in all (0: no limit)")
    r.add_argument("--max-seconds", type=float, metavar="S", help="stop after S seconds of training (0: no limit)")
    r.add_argument(
        "--patience",
        type=int,
        metavar="N",
        help="stop early after N evaluations in a row without a lower validation loss, ending on the best "
        f"weights (0: never; default: the preset's, {PRESETS[DEFAULT_PRESET].patience} for {DEFAULT_PRESET}, "
        "0 for the others); only with keep_best, ignored with --no-keep-best. A continued run gets N "
        "evaluations of its own",
    )
    r.add_argument("--seed", type=int, metavar="N", help="random seed (training and sampling)")
    r.add_argument("--device", choices=DEVICES, help="where to train (default: auto)")
    r.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="number format of the forward pass: bf16 autocast where it pays, weights and checkpoints stay fp32 "
        "(default: auto)",
    )
    r.add_argument("--eval-interval", type=int, metavar="N", help="evaluate and checkpoint every N steps")
    r.add_argument("--log-interval", type=int, metavar="N", help="print and log metrics every N steps")
    r.add_argument("--checkpoint-seconds", type=float, metavar="S", help="also checkpoint every S s (0: off)")


def _add_model_options(p: argparse.ArgumentParser) -> None:
    """The model's shape, its regularisers and the optimiser; each defaults to the preset's."""
    m = p.add_argument_group("model and optimiser (default: the preset's)")
    m.add_argument("--cell", choices=CELLS)
    m.add_argument("--layers", type=int, metavar="N")
    m.add_argument("--hidden", type=int, metavar="N")
    m.add_argument("--embed", type=int, metavar="N", help="embedding size; 0 feeds one-hot vectors")
    m.add_argument("--dropout", type=float, metavar="P", help="dropout between the layers and before the output")
    m.add_argument(
        "--locked-dropout",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="one --dropout mask per sequence, shared by its time steps (variational dropout)",
    )
    m.add_argument(
        "--weight-drop", type=float, metavar="P", help="DropConnect on the hidden-to-hidden weights (Merity et al.)"
    )
    m.add_argument("--embed-dropout", type=float, metavar="P", help="drop whole characters' embeddings")
    m.add_argument("--batch-size", type=int, metavar="N")
    m.add_argument("--seq-len", type=int, metavar="N")
    m.add_argument("--sampling", choices=SAMPLINGS, help="random windows, or streams with carried state")
    m.add_argument("--lr", type=float, metavar="LR")
    m.add_argument("--lr-schedule", choices=SCHEDULES)
    m.add_argument("--warmup", type=int, metavar="N", help="linear lr warm-up steps")
    m.add_argument("--grad-clip", type=float, metavar="X", help="clip the gradient norm at X (0: off)")
    m.add_argument("--optimizer", choices=OPTIMIZERS, help="adam (L2 decay) or adamw (decoupled decay)")
    m.add_argument(
        "--weight-decay", type=float, metavar="X", help="L2 decay with adam, decoupled decay with adamw, in [0, 1]"
    )
    m.add_argument(
        "--adam-beta2",
        type=float,
        metavar="B",
        help="Adam's decay of its mean squared gradient, in [0, 1): 0.999, or 0.99 where the default preset is "
        "sized for a short run (at most 1000 steps)",
    )
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


def _add_generation_options(p: argparse.ArgumentParser) -> None:
    """How --generate-only samples."""
    g = p.add_argument_group("generation")
    g.add_argument("--prime", default=None, help="text to start from (default: the corpus's opening line)")
    g.add_argument("--length", type=int, default=500, metavar="N", help="characters to generate (default 500)")
    g.add_argument("--temperature", type=float, default=0.8, metavar="T", help="0 is argmax, at most 100 (default 0.8)")
    g.add_argument("--top-k", type=int, default=0, metavar="K", help="sample from the K likeliest (0: all)")
    g.add_argument(
        "--num-samples",
        type=int,
        default=1,
        metavar="N",
        help="N continuations (1-8) of the one prime, stepped together and printed one after another, each "
        "headed '--- sample i (temperature T) ---'; sample i uses seed+i-1 (default 1: no header)",
    )
    g.add_argument("--stats", action="store_true", help="print the generation speed on stderr at the end")
    g.add_argument(
        "--weights",
        choices=("best", "last"),
        help="best: the best evaluation's weights (kept with --keep-best); last: the last step's "
        "(default: the ones the run ends on)",
    )
    g.add_argument(
        "--int8",
        action="store_true",
        help="int8 weights for generation (an LSTM on a CPU); argmax differs at ~0.2%% of steps. Measured over "
        "20,000 chars (docs/benchmarks.md): 3.3x faster for a 3x512 model (tutorial), 1.1-1.2x for the "
        "default 2x256, whose weights fit in the CPU cache; for a few hundred chars, start-up dominates",
    )


def config_overrides(args: argparse.Namespace) -> dict:
    return {field: getattr(args, flag) for flag, field in CONFIG_FLAGS.items() if getattr(args, flag) is not None}


def to_request(args: argparse.Namespace) -> Request:
    """The parsed command line as the typed request a front end takes."""
    run_dir = Path(args.run_dir) if args.run_dir else None
    overrides = config_overrides(args)
    if args.encoding is not None:
        from charrnn_tui.text.corpus import check_encoding

        check_encoding(args.encoding)  # the app would otherwise refuse every corpus with the same message
    if args.list_corpora:
        return ListCorporaRequest()
    if args.baseline:
        return BaselineRequest(args.corpus, args.encoding, args.val_fraction)
    if args.generate_only:
        if run_dir is None:
            raise CharRNNError("--generate-only needs --run-dir: the folder of a trained run (or its checkpoint.pt)")
        return GenerateRequest(
            run_dir,
            args.prime,
            args.length,
            args.temperature,
            args.top_k,
            args.seed,
            args.stats,
            args.int8,
            args.num_samples,
            args.weights,
        )
    if args.resume and run_dir is None:
        raise CharRNNError("--resume needs --run-dir: the folder of the run to continue")
    if args.train_only:
        ignored = [flag for flag, f in CONFIG_FLAGS.items() if f in overrides and f not in RESUME_OVERRIDABLE]
        ignored += ["preset"] if args.preset else []
        return TrainRequest(
            args.corpus, args.encoding, args.preset, overrides, run_dir, args.resume,
            tuple("--" + flag.replace("_", "-") for flag in ignored) if args.resume else (),
        )  # fmt: skip
    return AppRequest(args.corpus, args.encoding, args.preset, overrides, run_dir, args.resume)


def dispatch(request: Request) -> int:
    """Run a request in its front end; the heavy imports happen here, after parsing."""
    if isinstance(request, ListCorporaRequest):
        from charrnn_tui.headless.lists import list_corpora

        return list_corpora()
    if isinstance(request, TrainRequest):
        from charrnn_tui.headless.train import train

        return train(request)
    if isinstance(request, GenerateRequest):
        from charrnn_tui.headless.generate import generate

        return generate(request)
    if isinstance(request, BaselineRequest):
        from charrnn_tui.headless.lists import baseline

        return baseline(request)
    problem = terminal_problem({"stdin": sys.stdin, "stdout": sys.stdout, "stderr": sys.stderr})
    if problem:
        raise CharRNNError(problem)
    from charrnn_tui.tui.app import run_app

    return run_app(request)


def terminal_problem(streams: dict[str, Any]) -> str | None:
    """Why the app cannot run on these standard streams (name -> stream), or None: it reads keys from stdin and
    draws on stdout's terminal, so each must be one. Without this a script that starts it with `</dev/null`
    gets an app that spins and never ends."""
    for name, stream in streams.items():
        try:
            ok = stream is not None and stream.isatty()
        except (AttributeError, ValueError, OSError):  # detached or closed
            ok = False
        if not ok:
            what = "closed" if stream is None or getattr(stream, "closed", False) else "a file or a pipe"
            return (f"the app needs a terminal, and {name} is not one ({what}); for scripts and servers use "
                    "--train-only or --generate-only")  # fmt: skip
    return None


def main(argv: list[str] | None = None) -> int:
    configure_streams()
    args = build_parser().parse_args(argv)
    try:
        return dispatch(to_request(args))
    except CharRNNError as e:
        write_line(f"charrnn-tui: error: {e}", sys.stderr)
        return 1
    except KeyboardInterrupt:
        write_line("\ncharrnn-tui: interrupted", sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`); silence the flush at exit that would raise again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except MemoryError:
        write_line("charrnn-tui: error: out of memory; use a smaller model, batch or corpus", sys.stderr)
        return 1
    except OSError as e:
        # The environment failed under us (a full disk, a vanished folder): say what, not where in the code.
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        write_line(f"charrnn-tui: error: {e.strerror or e}{where}", sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
