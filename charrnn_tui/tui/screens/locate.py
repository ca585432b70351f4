"""Asked when a saved run's corpus file is no longer where the run found it: where is it now?"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from charrnn_tui.tui.widgets.path_suggester import PathSuggester
from charrnn_tui.tui.widgets.safe_input import SafeInput


class LocateCorpusScreen(ModalScreen[str | None]):
    """Dismisses with the path the user typed, or None (Esc)."""

    DEFAULT_CSS = """
    LocateCorpusScreen { align: center middle; }
    #locate-dialog { width: 76; max-width: 100%; height: auto; border: thick $warning; padding: 0 1;
                     background: $surface; }
    #locate-error { color: $error; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, old_path: str) -> None:
        super().__init__()
        self.old_path = old_path

    def compose(self) -> ComposeResult:
        with Vertical(id="locate-dialog"):
            yield Static(
                f"This run was trained on\n  {self.old_path}\nwhich is no longer there. Where is it now? "
                "(Enter continues the run on it, Esc cancels)",
                markup=False,
            )
            yield SafeInput(value=self.old_path, id="locate-path", suggester=PathSuggester())
            yield Static(id="locate-error", markup=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        path = Path(event.value.strip()).expanduser()
        if not path.is_file():
            self.query_one("#locate-error", Static).update(f"no file at {path}")
            return
        self.dismiss(str(path))

    def action_cancel(self) -> None:
        self.dismiss(None)
