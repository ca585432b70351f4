"""The editable training settings: one compact row per setting, read back into a TrainConfig.

Numbers are typed (a one-row Input that shows its value and cursor while focused); a setting with a fixed
set of values (cell, sampling, learning-rate schedule, device) is a choice (Select), so it cannot be mistyped.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Grid
from textual.widgets import Input, Label, Select

from charrnn_tui.core.config import CELLS, DEVICES, SAMPLINGS, SCHEDULES, TrainConfig
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.tui.widgets.safe_input import SafeInput

# (TrainConfig field, label, type or the allowed values); the rest of the config comes from the preset.
# The budget first: at 80x24 it is what shows under the preset without scrolling (issue 26 item 7).
FIELDS: tuple[tuple[str, str, type | tuple[str, ...]], ...] = (
    ("steps", "steps (0: none)", int),
    ("max_seconds", "seconds (0: none)", float),
    ("cell", "cell", CELLS),
    ("n_layers", "layers", int),
    ("hidden", "hidden size", int),
    ("dropout", "dropout", float),
    ("weight_drop", "weight drop", float),
    ("batch_size", "batch size", int),
    ("seq_len", "sequence length", int),
    ("sampling", "sampling", SAMPLINGS),
    ("lr", "learning rate", float),
    ("lr_schedule", "lr schedule", SCHEDULES),
    ("device", "device", DEVICES),
)
SHOWN_FIELDS = frozenset(name for name, _, _ in FIELDS)
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
    SettingsForm Input { padding: 0 1; }
    /* The focused setting stands out in a 16-colour terminal too (a one-step grey did not): its value on
       an $accent background, in bold, and its label in $accent (SettingsForm marks it on focus). */
    SettingsForm Input:focus, SettingsForm Select:focus > SelectCurrent { background: $accent 50%; text-style: bold; }
    SettingsForm Label.-focused { color: $accent; text-style: bold; }
    """

    def compose(self) -> ComposeResult:
        for name, label, kind in FIELDS:
            yield Label(label)
            if isinstance(kind, tuple):
                yield Select([(v, v) for v in kind], allow_blank=False, compact=True, id=f"set-{name}")
            else:
                # compact: one row, so the typed text and the cursor stay visible while focused; no
                # select-on-focus, so Backspace after Tab deletes one character, not the whole value.
                yield SafeInput(id=f"set-{name}", type=INPUT_TYPE[kind], compact=True, select_on_focus=False)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self._mark_label(event.widget.id)

    def on_descendant_blur(self) -> None:
        self._mark_label(None)

    def _mark_label(self, field_id: str | None) -> None:
        """The label beside the focused field gets the class -focused (CSS cannot select a preceding sibling)."""
        labels = list(self.query(Label))
        for label, (name, _, _) in zip(labels, FIELDS, strict=True):
            label.set_class(field_id == f"set-{name}", "-focused")

    def load(self, config: TrainConfig) -> None:
        for name, _, kind in FIELDS:
            value = getattr(config, name)
            if isinstance(kind, tuple):
                self.query_one(f"#set-{name}", Select).value = value
            else:
                self.query_one(f"#set-{name}", Input).value = fmt_value(value)

    def read(self, base: TrainConfig) -> TrainConfig:
        """`base` with the form's values; a value that is not a number raises CharRNNError."""
        values: dict[str, object] = {}
        for name, label, kind in FIELDS:
            if isinstance(kind, tuple):
                values[name] = self.query_one(f"#set-{name}", Select).value
                continue
            raw = self.query_one(f"#set-{name}", Input).value.strip()
            try:
                values[name] = kind(raw)
            except ValueError:
                what = "a whole number" if kind is int else "a number"
                raise CharRNNError(f"{label.split(' (')[0]} must be {what} (got {raw!r})") from None
        return base.with_overrides(**values)
