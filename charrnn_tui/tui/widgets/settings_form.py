"""The editable training settings: one compact input per setting, read back into a TrainConfig."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid
from textual.widgets import Input, Label

from charrnn_tui.config import TrainConfig
from charrnn_tui.errors import CharRNNError

# (TrainConfig field, label, type); the rest of the config comes from the preset.
FIELDS = (
    ("cell", "cell (lstm/gru/rnn)", str),
    ("n_layers", "layers", int),
    ("hidden", "hidden size", int),
    ("dropout", "dropout", float),
    ("batch_size", "batch size", int),
    ("seq_len", "sequence length", int),
    ("lr", "learning rate", float),
    ("steps", "steps (0: no limit)", int),
    ("max_seconds", "max seconds (0: none)", float),
)
INPUT_TYPE = {int: "integer", float: "number", str: "text"}


def fmt_value(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


class SettingsForm(Grid):
    DEFAULT_CSS = """
    SettingsForm {
        grid-size: 2;
        grid-columns: 1fr 14;
        grid-rows: 1;
        height: auto;
    }
    SettingsForm Label { color: $text-muted; }
    SettingsForm Input { border: none; height: 1; padding: 0 1; }
    SettingsForm Input:focus { background: $boost; }
    """

    def compose(self) -> ComposeResult:
        for name, label, kind in FIELDS:
            yield Label(label)
            yield Input(id=f"set-{name}", type=INPUT_TYPE[kind], select_on_focus=True)

    def load(self, config: TrainConfig) -> None:
        for name, _, _ in FIELDS:
            self.query_one(f"#set-{name}", Input).value = fmt_value(getattr(config, name))

    def read(self, base: TrainConfig) -> TrainConfig:
        """`base` with the form's values; a value that is not a number raises CharRNNError."""
        values = {}
        for name, label, kind in FIELDS:
            raw = self.query_one(f"#set-{name}", Input).value.strip()
            try:
                values[name] = kind(raw)
            except ValueError:
                what = "a whole number" if kind is int else "a number"
                raise CharRNNError(f"{label.split(' (')[0]} must be {what} (got {raw!r})") from None
        return base.with_overrides(**values)
