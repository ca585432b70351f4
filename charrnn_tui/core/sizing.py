"""The width the default preset's budget affords: where a run would read a large text many times over at 2x256, the
same time is better spent on 2x384 (docs/quality.md, round 9). Torch-free, like config."""

from __future__ import annotations

from collections.abc import Collection

from charrnn_tui.core.config import FAST, NOMINAL_CHARS_PER_S, WIDE_HIDDEN, TrainConfig, planned_epochs

# The default preset's wider model, for a budget that reads a large text many times over. On a fast CPU, Hamlet's
# 180 s reads the text about 69 times at 2x256, where more dropout no longer buys a lower validation loss; the
# same time spent on 2x384 (about 37 epochs) ended lower (docs/quality.md, round 10). Measured on Hamlet only, so
# a text under WIDE_MIN_TRAIN_CHARS keeps the preset's width: a small text overfits a wider model sooner.
WIDE_AT_EPOCHS = 55.0
WIDE_MIN_TRAIN_CHARS = 100_000
# A 2x384 step trains this many times fewer characters a second than a 2x256 one (61,000 against 36,000 chars/s
# on a Zen 5 with bf16, docs/quality.md round 10): its arithmetic is 2.2x, and its larger matrices use the cores
# better. The yardstick of the wider model's rate until this machine has measured it.
WIDE_COST = 1.7


def afforded_width(
    config: TrainConfig, train_chars: int, keep: Collection[str] = (), chars_per_s: float = NOMINAL_CHARS_PER_S
) -> TrainConfig:
    """The default preset at the width its budget affords: `config` with WIDE_HIDDEN units per layer when a run at
    its own width (training `chars_per_s` characters a second) would read a text of at least
    WIDE_MIN_TRAIN_CHARS training characters WIDE_AT_EPOCHS times or more; else `config` as it is. A width the
    user set (`hidden` in `keep`) or a model that is not the preset's 2x256 LSTM stays. The regularisation is then
    fit_to_corpus's, for the wider model's own rate (about chars_per_s / WIDE_COST)."""
    model = ("cell", "n_layers", "hidden", "embed")
    if "hidden" in keep or any(getattr(config, f) != getattr(FAST, f) for f in model):
        return config
    if train_chars < WIDE_MIN_TRAIN_CHARS:
        return config
    if planned_epochs(config, train_chars, chars_per_s) < WIDE_AT_EPOCHS:
        return config
    return config.with_overrides(hidden=WIDE_HIDDEN)
