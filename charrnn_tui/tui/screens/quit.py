"""Asked when quitting mid-training: save a checkpoint first, quit without saving, or stay."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class QuitScreen(ModalScreen[str]):
    """Dismisses with "save", "discard" or "cancel"."""

    CSS_PATH = "quit.tcss"
    BINDINGS = [
        Binding("s,y", "choose('save')", "Save and quit"),
        Binding("d,n", "choose('discard')", "Quit without saving"),
        Binding("escape,c", "choose('cancel')", "Keep training"),
    ]

    def __init__(self, step: int, last_saved: int | None) -> None:
        super().__init__()
        self.step = step
        self.last_saved = last_saved

    def compose(self) -> ComposeResult:
        kept = f"the checkpoint of step {self.last_saved}" if self.last_saved is not None else "no checkpoint"
        with Vertical(id="quit-dialog"):
            yield Static(
                f"Training is running (step {self.step}). Save a checkpoint before quitting?\n"
                f"Without saving, the run keeps {kept}.",
                id="quit-question",
                markup=False,
            )
            with Horizontal(id="quit-buttons"):
                yield Button("Save and quit (s)", id="save", variant="primary")
                yield Button("Quit without saving (d)", id="discard", variant="error")
                yield Button("Keep training (Esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#save", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id)

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)
