"""Settings: presets, round trips, and nonsense refused with the reason."""

from __future__ import annotations

import pytest

from charrnn_tui.config import PRESETS, TUTORIAL, TrainConfig, preset
from charrnn_tui.errors import CharRNNError


def test_presets_are_valid_and_tutorial_is_the_original() -> None:
    for cfg in PRESETS.values():
        cfg.validate()
    assert (TUTORIAL.cell, TUTORIAL.n_layers, TUTORIAL.hidden, TUTORIAL.embed) == ("lstm", 3, 512, 0)
    assert (TUTORIAL.batch_size, TUTORIAL.seq_len, TUTORIAL.lr, TUTORIAL.sampling) == (200, 30, 1e-3, "random")
    with pytest.raises(CharRNNError, match="no preset named 'huge'; presets: fast, tutorial, tiny"):
        preset("huge")


def test_dict_round_trip_ignores_unknown_keys() -> None:
    cfg = preset("tiny").with_overrides(hidden=48, lr=None)
    assert cfg.hidden == 48 and cfg.lr == preset("tiny").lr
    assert TrainConfig.from_dict(cfg.to_dict() | {"from_the_future": 1}) == cfg


@pytest.mark.parametrize(
    "overrides, reason",
    [
        ({"n_layers": 0}, r"layers must be at least 1 \(got 0\)"),
        ({"lr": -0.1}, r"learning rate must be positive \(got -0.1\)"),
        ({"lr": 0}, "learning rate must be positive"),
        ({"hidden": 0}, "hidden size must be at least 1"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"batch_size": 0}, "batch size must be at least 1"),
        ({"seq_len": -5}, "sequence length must be at least 1"),
        ({"val_fraction": 0}, "validation fraction"),
        ({"cell": "transformer"}, "cell must be one of lstm, gru, rnn"),
        ({"device": "tpu"}, "device must be one of"),
        ({"steps": -1}, "steps must be 0"),
        ({"eval_interval": 0}, "eval interval must be at least 1"),
    ],
)
def test_nonsense_settings_are_refused_with_the_reason(overrides: dict, reason: str) -> None:
    with pytest.raises(CharRNNError, match=reason):
        preset("tiny").with_overrides(**overrides).validate()


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(CharRNNError) as e:
        preset("tiny").with_overrides(n_layers=0, lr=-1).validate()
    assert "layers" in str(e.value) and "learning rate" in str(e.value)


def test_corpus_too_small_for_the_batch() -> None:
    cfg = preset("tiny")  # batch 16 x sequence 32
    cfg.validate_for(10_000, 1_000)
    with pytest.raises(CharRNNError, match="too short for one window of 33"):
        cfg.validate_for(20, 5)
    with pytest.raises(CharRNNError, match="batch 16 x sequence 32 needs 513 .*lower --batch-size or --seq-len"):
        cfg.validate_for(400, 50)
    with pytest.raises(CharRNNError, match="validation split has 1 characters"):
        cfg.validate_for(10_000, 1)
