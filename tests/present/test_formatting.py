"""The words both front ends share about a run, as pure functions."""

from __future__ import annotations

from charrnn_tui.present.formatting import fmt_weights


def test_a_run_on_its_last_weights_names_one_step() -> None:
    assert fmt_weights(363, None) == "weights of step 363"
    assert fmt_weights(363, 363) == "weights of step 363"  # its best was its last: nothing to tell apart
    assert fmt_weights(1_200, None, short=True) == "step 1,200"


def test_a_run_that_went_back_to_its_best_names_both_steps() -> None:
    assert fmt_weights(363, 180) == "best weights, of step 180 (trained to step 363)"
    short = fmt_weights(1_234_567, 1_234_000, short=True)
    assert short == "step 1,234,000 (best)" and len(short) <= 21  # the stats panel's row at 80x24
