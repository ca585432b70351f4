"""Asked before a running training run ends: when quitting (Ctrl+Q) or stopping it (x). Save a checkpoint
first, end without saving, or keep training. The question reads the session twice a second, so the step
and the last saved checkpoint it names stay current while training goes on behind it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from charrnn_tui.tui.state.session import TrainingSession

VERBS = {"quit": ("quit", "Quit"), "stop": ("stop", "Stop")}


class QuitScreen(ModalScreen[str]):
    """Dismisses with "save", "discard" or "cancel". `action` is "quit" or "stop" (the words it uses)."""

    CSS_PATH = "quit.tcss"
    BINDINGS = [
        Binding("s,y", "choose('save')", "Save first"),
        Binding("d,n", "choose('discard')", "Don't save"),
        Binding("escape,c", "choose('cancel')", "Keep training"),
    ]

    def __init__(self, session: TrainingSession, action: str = "quit") -> None:
        super().__init__()
        self.session = session
        self.verb, self.Verb = VERBS[action]

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-dialog"):
            yield Static(self.question(), id="quit-question", markup=False)
            with Horizontal(id="quit-buttons"):
                yield Button(f"Save and {self.verb} (s)", id="save", variant="primary", compact=True)
                yield Button(f"{self.Verb}, don't save (d)", id="discard", variant="error", compact=True)
                yield Button("Keep training (Esc)", id="cancel", compact=True)

    def question(self) -> str:
        s = self.session
        step = s.last_step.step if s.last_step else 0
        saved = s.checkpoint_on_disk()  # what the folder holds, also a checkpoint from before this session
        kept = f"the checkpoint of step {saved:,}" if saved is not None else "no checkpoint"
        return (
            f"Training is running (step {step:,}). Save a checkpoint before you {self.verb}?\n"
            f"Without saving, the run keeps {kept}."
        )

    def on_mount(self) -> None:
        self.query_one("#save", Button).focus()
        self.set_interval(0.5, self._refresh_question)

    def _refresh_question(self) -> None:
        if not self.session.active:  # it ended on its own meanwhile: nothing left to ask
            self.dismiss("cancel")
            return
        self.query_one("#quit-question", Static).update(self.question())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id)

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)
