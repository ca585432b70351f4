"""`--list-corpora` and `--baseline`: the built-in plays, and the Kneser-Ney n-gram baseline's table."""

from __future__ import annotations

import math
import sys

from charrnn_tui.core.config import (
    DEFAULT_PRESET,
    preset,
)
from charrnn_tui.core.requests import BaselineRequest
from charrnn_tui.present.formatting import (
    LN2,
)
from charrnn_tui.present.safetext import write_line
from charrnn_tui.text.corpus import builtin_plays, load_corpus


def list_corpora() -> int:
    """Print the built-in corpora with their genre and size in characters; 1 if the package's data is missing."""
    plays = builtin_plays()
    if not plays:
        write_line("no built-in corpora: the package's data folder is missing; reinstall charrnn-tui", sys.stderr)
        return 1
    write_line(f"{'name':<34} {'genre':<11} {'size':>15}", sys.stdout)
    for p in plays:
        mark = " (default)" if p.name == "hamlet" else ""
        write_line(f"{p.name:<34} {p.genre:<11} {p.size:>9,} chars{mark}", sys.stdout)
    write_line(
        "\nor give the path of any text file: --corpus path/to/file.txt (--encoding if it is not UTF-8)", sys.stdout
    )
    return 0


def baseline(req: BaselineRequest) -> int:
    """`--baseline`: the Kneser-Ney n-gram table on the corpus's validation split, as the trainer splits it."""
    from charrnn_tui.scoring.baseline import corpus_baseline

    val_fraction = req.val_fraction if req.val_fraction is not None else preset(DEFAULT_PRESET).val_fraction
    corpus = load_corpus(req.corpus, req.encoding or "utf-8")
    result = corpus_baseline(corpus, val_fraction)
    write_line(
        f"Kneser-Ney character n-grams on {corpus.name}: {result.train_chars:,} training characters, "
        f"{result.val_chars - 1:,} validation characters predicted (the last {val_fraction * 100:g}% of the text)",
        sys.stdout,
    )
    note = result.cap_note()
    if note:
        write_line(f"note: {note}", sys.stdout)
    if result.unseen_val:
        write_line(
            f"note: {result.unseen_val:,} validation characters never occur in training (scored as one symbol)",
            sys.stdout,
        )
    write_line(f"{'order':>5}  {'nats/char':>9}  {'bits/char':>9}  {'perplexity':>10}", sys.stdout)
    for order, loss in result.losses.items():
        mark = "  <- best" if order == result.best_order else ""
        write_line(f"{order:>5}  {loss:>9.4f}  {loss / LN2:>9.4f}  {math.exp(loss):>10.3f}{mark}", sys.stdout)
    write_line(f"({result.seconds:.1f} s)", sys.stdout)
    return 0
