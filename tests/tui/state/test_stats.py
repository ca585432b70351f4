"""The training panel's rows are a pure function of the session's state: fed events, read back as
(label, value), with no app running."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from charrnn_tui.core.config import TINY
from charrnn_tui.core.events import CheckpointSaved, Evaluated, Failed, Finished, Started, Step
from charrnn_tui.present.formatting import fmt_weights
from charrnn_tui.tui.state.session import TrainingSession
from charrnn_tui.tui.state.stats import StatRow, stats_rows, why_ended

CONFIG = replace(TINY, steps=200, device="cpu")
STARTED = Started(0, CONFIG.to_dict(), "hamlet", "runs/hamlet-demo", "cpu", 26_176, 64, 158_715, 17_635)


def session(*events, run_dir: Path | None = Path("runs/hamlet-20260101-120000")) -> TrainingSession:
    s = TrainingSession("hamlet", CONFIG, run_dir, post=lambda message: None, corpus_name="hamlet")
    for ev in events:
        s.record(ev)
    return s


def shown(s: TrainingSession) -> dict[str, str]:
    return {row.label: row.value for row in stats_rows(s)}


def test_before_the_first_event_the_panel_says_it_is_starting_and_knows_no_numbers() -> None:
    rows = stats_rows(session(run_dir=None))
    assert rows[0] == StatRow("status", "starting (loading PyTorch, building the model)...", "yellow")
    assert [(r.label, r.value) for r in rows[1:]] == [
        ("step", "0 / 200"), ("loss", "-"), ("val loss", "-"), ("best val", "-"),
        ("chars/s", "-"), ("elapsed", "-"), ("ETA", "-"), ("saved", "-"),
    ]  # fmt: skip


def test_a_running_session_shows_its_step_losses_speed_model_and_folder() -> None:
    s = session(
        STARTED,
        Step(100, 2.5, 0.01, 12_345.0, 65.0, 30.0, 0.5, threads=2),
        Evaluated(100, 2.6, 2.55, 65.0),
        CheckpointSaved(100, "runs/x/checkpoint.pt", "eval"),
    )
    assert stats_rows(s)[0] == StatRow("status", "training", "green")
    assert shown(s) == {
        "status": "training",
        "step": "100 / 200",
        "loss": "2.500 (3.61 bits)",
        "val loss": "2.600 (3.75 bits)",
        "best val": "2.550 (3.68 bits)",
        "chars/s": "12,345 · 2 threads",
        "elapsed": "1:05",
        "ETA": "0:30",
        "model": "LSTM 1x64",
        "params": "26,176",
        "device": "cpu",
        "corpus": "hamlet",
        "train/val": "158,715 / 17,635",
        "vocab": "64 characters",
        "run": "hamlet-20260101-120000",
        "saved": "step 100 (eval)",
    }


def test_a_finished_run_shows_why_it_ended_and_its_own_final_figures_and_no_live_ones() -> None:
    end = Finished(150, "patience", 80.0, 2.4, 2.3, "runs/x", "runs/x/checkpoint.pt", kept_step=120, stalled_evals=3)
    s = session(STARTED, Step(150, 2.2, 0.01, 12_000.0, 79.0, 20.0, 0.75, threads=2), Evaluated(150, 2.7, 2.6, 79.0))
    s.record(end)
    rows = shown(s)
    assert rows["status"] == "finished" and rows["ended"] == why_ended(end, short=True)
    assert rows["final step"] == "150" and "step" not in rows
    assert rows["val loss"] == "2.400 (3.46 bits)" and rows["best val"] == "2.300 (3.32 bits)"  # the Finished's
    assert rows["weights"] == "step 120 (best)" == fmt_weights(150, 120, short=True)  # the CLI's and the list's words
    assert rows["chars/s"] == "12,000"  # the threads are a live fact: gone once the run ended
    assert rows["elapsed"] == "1:20" and "ETA" not in rows
    assert len(stats_rows(s)) == 17  # the most the panel holds (its CSS height)


def test_a_finished_run_on_its_last_weights_says_which_step_they_are_of() -> None:
    # It said nothing of its weights, so "weights of step 363" on the generation screen stood alone.
    end = Finished(363, "time", 80.0, 2.4, 2.3, "runs/x", "runs/x/checkpoint.pt")
    rows = shown(session(STARTED, end))
    assert rows["ended"] == "time budget reached" and rows["weights"] == "step 363"
    assert len(stats_rows(session(STARTED, end))) == 17


def test_a_failed_run_keeps_its_last_figures() -> None:
    s = session(STARTED, Step(40, 3.0, 0.01, 9_000.0, 20.0, 80.0, 0.2), Failed(41, "the loss is nan", "runs/x", None))
    rows = stats_rows(s)
    assert rows[0] == StatRow("status", "failed", "bold red")
    assert shown(s)["final step"] == "41" and shown(s)["elapsed"] == "0:20" and "ended" not in shown(s)


def test_a_stopped_run_says_it_ended_before_its_budget_in_the_clis_words() -> None:
    end = Finished(10, "stopped", 5.0, None, None, None, None)
    assert why_ended(end) == "stopped before its budget"  # the CLI's words too
    assert shown(session(STARTED, end))["ended"] == "stopped before budget"


def test_an_unbounded_run_shows_its_step_without_a_budget() -> None:
    s = TrainingSession("hamlet", replace(CONFIG, steps=0), None, post=lambda message: None)
    s.record(Step(7, 3.0, 0.01, 1.0, 1.0, None, None))
    assert shown(s)["step"] == "7" and shown(s)["ETA"] == "-"
