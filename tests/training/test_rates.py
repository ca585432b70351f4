"""The machine's own training rate: kept per machine and shape, read by the sizing, and the one re-size a run makes
when the rate it meets is far from its plan's (real tiny trainings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from charrnn_tui.core.config import FAST, NOMINAL_CHARS_PER_S, SHORT_WINDOW, TINY, WIDE_HIDDEN, fit_to_corpus
from charrnn_tui.core.events import Finished, Notice
from charrnn_tui.core.sizing import WIDE_COST
from charrnn_tui.model import checkpoint
from charrnn_tui.text.corpus import Corpus
from charrnn_tui.training import rates
from charrnn_tui.training.rates import RESIZE_FACTOR, RateCheck, Sizing, read_rate, record_rate
from charrnn_tui.training.trainer import Trainer

HAMLET_TRAIN = 158_715


def test_a_rate_is_kept_per_machine_and_shape(data_home: Path) -> None:
    assert read_rate(FAST) is None  # a machine that never trained
    record_rate(FAST, 19_512.3)
    assert read_rate(FAST) == 19_512.3
    # the regularisation the sizing chooses is not part of the shape; the model, batch and precision are
    assert read_rate(FAST.with_overrides(dropout=0.4, weight_drop=0.3)) == 19_512.3
    for other in (FAST.with_overrides(hidden=512), FAST.with_overrides(batch_size=16), TINY):
        assert read_rate(other) is None
    assert read_rate(FAST, device="cuda") is None and read_rate(FAST, ranks=2) is None
    saved = json.loads((data_home / rates.RATES_NAME).read_text())
    assert list(saved) == [rates.machine_name()] and "cores" in rates.machine_name()


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"m": 3}', b"\xff\xfe", b" " * (2 << 20)])
def test_a_damaged_rates_file_is_as_none_and_is_written_whole_again(data_home: Path, content: bytes) -> None:
    path = data_home / rates.RATES_NAME
    path.write_bytes(content)
    assert read_rate(FAST) is None
    record_rate(FAST, 30_000)
    assert read_rate(FAST) == 30_000


def test_a_bad_figure_is_never_kept_and_the_file_stays_small(data_home: Path) -> None:
    for bad in (0.0, -5.0, float("nan"), float("inf")):
        record_rate(FAST, bad)
    assert read_rate(FAST) is None
    for hidden in range(1, rates.MAX_ENTRIES + 50):
        record_rate(FAST.with_overrides(hidden=hidden), 1000 + hidden)
    saved = json.loads((data_home / rates.RATES_NAME).read_text())
    assert sum(len(shapes) for shapes in saved.values()) == rates.MAX_ENTRIES
    assert read_rate(FAST.with_overrides(hidden=1)) is None  # the oldest went first
    assert read_rate(FAST.with_overrides(hidden=rates.MAX_ENTRIES + 49)) == 1000 + rates.MAX_ENTRIES + 49


def test_an_unwritable_data_dir_loses_only_the_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CHARRNN_TUI_HOME", str(blocker / "home"))
    record_rate(FAST, 20_000)  # never raises
    assert read_rate(FAST) is None


def test_the_sizing_uses_the_measured_rate_and_says_so(data_home: Path) -> None:
    base = FAST.with_overrides(max_seconds=60)
    first = Sizing.for_machine(base, HAMLET_TRAIN)
    assert (first.chars_per_s, first.measured) == (NOMINAL_CHARS_PER_S, False)
    record_rate(base, 30_000)  # a Zen 4 with bf16: ~560 steps in 60 s, the preset's window
    second = Sizing.for_machine(base, HAMLET_TRAIN, keep={"dropout"})
    assert (second.chars_per_s, second.measured) == (30_000, True)
    assert second.config() == fit_to_corpus(base, HAMLET_TRAIN, {"dropout"}, 30_000)


def test_a_fast_machine_sizes_a_wider_model_once_and_a_re_size_keeps_it(data_home: Path) -> None:
    base = FAST.with_overrides(max_seconds=180)
    record_rate(base, 61_000)  # what 2x256 trains at on a Zen 5
    sizing = Sizing.for_machine(base, HAMLET_TRAIN)
    assert sizing.widened and sizing.base.hidden == WIDE_HIDDEN and sizing.config().hidden == WIDE_HIDDEN
    # the wider model's rate, until this machine measures it, is the preset width's over WIDE_COST
    assert (sizing.chars_per_s, sizing.measured) == (61_000 / WIDE_COST, False)
    line = sizing.describe(sizing.config())
    assert "(estimated: this model not yet measured on this machine)" in line and ": 2x384 LSTM, wider as" in line
    # a run's re-size changes its regularisation, never its model
    resized = sizing.resized(20_000)
    assert resized is not None and resized.config().hidden == WIDE_HIDDEN and resized.widened
    record_rate(sizing.config(), 35_000)
    again = Sizing.for_machine(base, HAMLET_TRAIN)
    assert (again.chars_per_s, again.measured, again.config().hidden) == (35_000, True, WIDE_HIDDEN)
    # a width the user gave, or a shorter budget: the preset's width, sized as before
    for kept in (
        Sizing.for_machine(base, HAMLET_TRAIN, {"hidden"}),
        Sizing.for_machine(base.with_overrides(max_seconds=60), HAMLET_TRAIN),
    ):
        assert not kept.widened and kept.config().hidden == FAST.hidden and kept.chars_per_s == 61_000


def test_a_slow_machine_sizes_a_shorter_window_once_and_says_so(data_home: Path) -> None:
    base = FAST.with_overrides(max_seconds=60)
    assert not Sizing.for_machine(base, HAMLET_TRAIN).windowed  # nominal: 750 steps at 100 characters
    record_rate(base, 19_500)  # what an AVX2-only Zen 2 trains the preset at
    sizing = Sizing.for_machine(base, HAMLET_TRAIN)
    assert sizing.windowed and not sizing.widened and sizing.config().seq_len == SHORT_WINDOW
    # until this machine measures the shorter window, its rate is the preset window's
    assert (sizing.chars_per_s, sizing.measured) == (19_500, False)
    line = sizing.describe(sizing.config())
    assert "(estimated: this window not yet measured on this machine)" in line
    assert ": windows of 50 characters, for more steps in a short budget; dropout" in line
    # a re-size changes the regularisation, never the window
    resized = sizing.resized(30_000)
    assert resized is not None and resized.windowed and resized.config().seq_len == SHORT_WINDOW
    record_rate(sizing.config(), 22_300)
    again = Sizing.for_machine(base, HAMLET_TRAIN)
    assert (again.chars_per_s, again.measured, again.config().seq_len) == (22_300, True, SHORT_WINDOW)
    # a window the user gave, or the same machine's 180 s: the preset's window, at the measured rate
    for kept in (
        Sizing.for_machine(base, HAMLET_TRAIN, {"seq_len"}),
        Sizing.for_machine(base.with_overrides(max_seconds=180), HAMLET_TRAIN),
    ):
        assert not kept.windowed and kept.config().seq_len == FAST.seq_len and kept.chars_per_s == 19_500


def test_a_run_re_sizes_only_when_its_rate_is_far_from_the_plan() -> None:
    sizing = Sizing(FAST.with_overrides(max_seconds=60), HAMLET_TRAIN, chars_per_s=40_000)
    assert sizing.resized(40_000 * RESIZE_FACTOR) is None and sizing.resized(40_000 / RESIZE_FACTOR) is None
    assert sizing.resized(float("nan")) is None and sizing.resized(0.0) is None
    slower = sizing.resized(19_500)
    assert slower is not None and (slower.chars_per_s, slower.measured) == (19_500, True)
    assert sizing.resize_at() == 6.0  # a tenth of the budget
    assert Sizing(FAST.with_overrides(max_seconds=10), 1).resize_at() == rates.RESIZE_MIN_S
    assert Sizing(FAST.with_overrides(max_seconds=0, steps=500), 1).resize_at() is None  # steps: exact anyway


def test_the_rate_check_reads_the_second_half_of_its_window_once() -> None:
    check = RateCheck(at_s=4.0)
    # steps of 1 s until 2 s (warm-up, ignored), then of 0.25 s
    assert check.seconds_per_step(1.0, 1, 1.0) is None
    assert check.seconds_per_step(2.0, 2, 2.0) is None  # the mark
    assert check.seconds_per_step(3.0, 6, 3.0) is None
    assert check.seconds_per_step(4.0, 10, 4.0) == 0.25


def test_a_run_planned_for_another_machine_re_sizes_itself_once(small_corpus: Corpus, tmp_path: Path) -> None:
    # Planned for a machine a million times faster than any: hundreds of thousands of epochs, the most dropout.
    base = FAST.with_overrides(n_layers=2, hidden=32, embed=16, batch_size=8, seq_len=32, max_seconds=5, device="cpu")
    train_chars = small_corpus.split_sizes(base.val_fraction)[0]
    sizing = Sizing(base, train_chars, chars_per_s=1e12)
    planned = sizing.config()
    assert (planned.dropout, planned.weight_drop) == (0.5, 0.4)
    events = []
    trainer = Trainer(small_corpus, planned, tmp_path / "run", events.append, sizing=sizing)
    result = trainer.run()
    assert isinstance(result, Finished), result
    notes = [e for e in events if isinstance(e, Notice) and "re-sized" in e.message]
    assert len(notes) == 1, [e for e in events if isinstance(e, Notice)]
    assert (
        notes[0].message.startswith("this machine trains at ")
        and "not the 1,000,000,000,000 the run" in notes[0].message
    )
    assert "(measured on this machine)" in notes[0].message
    met = trainer.sizing.chars_per_s
    assert trainer.sizing.measured and met < 1e9
    expected = fit_to_corpus(base, train_chars, chars_per_s=met)
    ckpt = checkpoint.load(tmp_path / "run" / "checkpoint.pt")
    saved = ckpt["config"]
    for field in ("dropout", "weight_drop", "eval_interval"):
        assert saved[field] == getattr(expected, field), field
    assert (saved["dropout"], saved["weight_drop"]) != (0.5, 0.4)
    # Adam's beta2 stays what the optimiser's running averages were built with
    assert saved["adam_beta2"] == planned.adam_beta2 == trainer._state.optimizer.param_groups[0]["betas"][1]
    # The model itself trains with the new values, and the next run of the shape is planned with the rate met.
    assert trainer._state.model.dropout == saved["dropout"] and trainer._state.model.rnn.dropout == saved["dropout"]
    assert read_rate(planned) == pytest.approx(met, rel=0.5)
