"""Hostile inputs shared by the tests: control sequences in text, and crafted checkpoints."""

from __future__ import annotations

from pathlib import Path

OSC52 = "\x1b]52;c;SGVsbG8=\x07"  # ESC ] 52 ; c ; <base64> BEL: writes the clipboard
OSC0 = "\x1b]0;TITLE\x07"  # ESC ] 0 ; TITLE BEL: sets the window title
FIRST_LINE = OSC52 + OSC0 + " ★ naïve\n"


def hostile_corpus_text(base: str) -> str:
    """`base` behind a first line (the default prime) holding both sequences and non-ASCII letters."""
    return FIRST_LINE + base


def expanded_checkpoint(src: Path, dst: Path, hidden: int, n_layers: int = 1) -> Path:
    """A copy of the checkpoint at `src` whose settings claim `n_layers` x `hidden` and whose weights are
    stride-0 views of one value each (`expand`): the right shapes, a file of a few kilobytes."""
    import torch

    from charrnn_tui.core.config import TrainConfig
    from charrnn_tui.model.charrnn import CharRNN

    ckpt = torch.load(src, weights_only=True)
    config = ckpt["config"] | {"hidden": hidden, "n_layers": n_layers}
    with torch.device("meta"):
        model = CharRNN.from_config(len(ckpt["vocab"]), TrainConfig.from_dict(config))
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    weights = {k: torch.zeros(1).expand(shape) for k, shape in shapes.items()}
    keep = {k: v for k, v in ckpt.items() if k in ("format", "version", "vocab", "step", "corpus")}
    torch.save(keep | {"config": config, "model": weights}, dst)
    return dst
