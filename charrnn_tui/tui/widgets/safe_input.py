"""An Input that never sends a control character to the terminal. Textual's Input draws its value and its
suggestion as they are, so an ESC in either (a pasted line, a file name offered by completion, a path read
from an untrusted run's record) reached the terminal as a control sequence and was obeyed: an OSC sequence
in a file name retitled the terminal while the user was only typing a path."""

from __future__ import annotations

from textual.widgets import Input

from charrnn_tui.present.safetext import one_line


class SafeInput(Input):
    """Input whose value, however it is set (typed, pasted, completed, or given in code), holds no character
    a terminal would obey: each is replaced by its visible stand-in (`safetext.one_line`), as everywhere else
    untrusted text is shown. The suggestion is checked the same way. A value that had such characters no
    longer names the same file: loading it then says the file is not there, with the path as shown."""

    def validate_value(self, value: str) -> str:
        return one_line(value)

    def _validate__suggestion(self, suggestion: str) -> str:
        return one_line(suggestion)
