"""The corpus screen's first line of settings: what Ctrl+T will do now, in one sentence (issue 26: at 80x24 the
budget was off the first screen and nothing said what training would start)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from charrnn_tui.core.config import TrainConfig
from charrnn_tui.present.formatting import fmt_budget
from charrnn_tui.present.safetext import one_line


def plan_text(corpus_name: str | None, config: TrainConfig | None, training_on: str | None = None) -> Text:
    """The sentence for the plan: `corpus_name` None while no usable corpus is chosen, `config` None while the
    settings do not read (the error under them says why), `training_on` the corpus of a run training now (Ctrl+T
    goes back to it). Names are untrusted text: made one safe line."""
    if training_on is not None:
        return Text(f"Ctrl+T goes back to the run training on {one_line(training_on)}.", style="bold")
    if corpus_name is None:
        return Text("Ctrl+T trains once a corpus is loaded (choose a play or a file).", style="yellow")
    if config is None:
        return Text("Ctrl+T trains once the settings are fixed (see under them).", style="yellow")
    budget = fmt_budget(config)
    length = "with no limit: x stops it" if not (config.steps or config.max_seconds) else f"for {budget}"
    model = f"{config.n_layers}x{config.hidden} {config.cell.upper()}"
    return Text.assemble(("Ctrl+T trains ", "bold"), f"a {model} on ", (one_line(corpus_name), "bold"), f", {length}.")


class TrainPlan(Static):
    """What Ctrl+T will do; the screen calls `show` whenever the corpus, the settings or the run change."""

    DEFAULT_CSS = """
    TrainPlan { height: auto; margin-bottom: 1; }
    """

    def show(self, corpus_name: str | None, config: TrainConfig | None, training_on: str | None = None) -> None:
        """Say what Ctrl+T does with this corpus and these settings (see `plan_text`)."""
        self.update(plan_text(corpus_name, config, training_on))
