"""The model shape the default preset's budget affords on this machine: where a run would read a large text many
times over at 2x256, the same time is better spent on 2x384 (docs/quality.md, round 9); where a slow CPU's budget
allows few steps, a shorter truncated-BPTT window buys more of them (round 11). Torch-free, like config."""

from __future__ import annotations

from collections.abc import Collection

from charrnn_tui.core.config import (
    FAST,
    NOMINAL_CHARS_PER_S,
    SHORT_WINDOW,
    WIDE_HIDDEN,
    TrainConfig,
    fit_to_corpus,
    planned_epochs,
    planned_steps,
)

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


# A budget that allows fewer than SHORT_WINDOW_BELOW_STEPS steps at the preset's 100-character window trains on
# SHORT_WINDOW-character windows instead: twice the updates for the same characters, which is what a short run
# lacks. Measured on Hamlet at 60 s (docs/quality.md, round 11): at about 350-400 steps (an AVX2-only CPU) the
# 50-character window ended 0.02 nats/char lower; at about 540 steps (a CPU with bf16) the two were level; at
# 180 s (1,000 steps and more) the preset's window.
SHORT_WINDOW_BELOW_STEPS = 450


def afforded_window(
    config: TrainConfig, train_chars: int, keep: Collection[str] = (), chars_per_s: float = NOMINAL_CHARS_PER_S
) -> TrainConfig:
    """The default preset with the window its budget affords: `config` with SHORT_WINDOW-character windows
    (truncated BPTT over SHORT_WINDOW steps) when a run sized at its own window for a text of `train_chars`
    training characters (fit_to_corpus: a small text's smaller batch makes more steps), training `chars_per_s`
    characters a second, would make fewer than SHORT_WINDOW_BELOW_STEPS steps; else `config` as it is. A window
    the user set (`seq_len` in `keep`), a window that is not the preset's, or a budget of steps (a user's step
    count) stays."""
    if "seq_len" in keep or config.seq_len != FAST.seq_len or config.steps:
        return config
    if planned_steps(fit_to_corpus(config, train_chars, keep, chars_per_s), chars_per_s) >= SHORT_WINDOW_BELOW_STEPS:
        return config
    return config.with_overrides(seq_len=SHORT_WINDOW)
