"""The prime field: a prime of any length and any number of lines, all of it used, the field answering at once.

Textual's Input keeps only the first line of a paste (`splitlines()[0]`, silently), and it renders its whole
value on every frame and every cursor move: after a 30,000-character paste it fell 30 s behind the keys, and a
1 MB one took the app's memory up by gigabytes. So the field edits in place only a prime it can show as it is,
up to INLINE_MAX characters, each new line written as the two characters backslash-n (as one is typed); any
other prime is *held*: kept exactly as given, while the field shows a bounded tail of it.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.geometry import Region
from textual.message import Message
from textual.widgets.input import Selection

from charrnn_tui.present.safetext import one_line
from charrnn_tui.tui.widgets.safe_input import SafeInput

INLINE_MAX = 1_000  # characters of a prime edited in the field itself; a longer one is held
PREVIEW = 200  # characters of a held prime's end that the field shows


def prime_size(text: str, short: bool = False) -> str:
    """'30,000 characters, 412 lines' (short: '30,000 chars, 412 lines', for a border at 80 columns): the size
    of a prime in words, a last line without a newline counted."""
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    chars = f"{len(text):,} {'char' if short else 'character'}{'s' * (len(text) != 1)}"
    return f"{chars}, {lines:,} line{'s' * (lines != 1)}"


def as_value(text: str) -> str | None:
    """The field's value that stands for the prime `text` (a new line as backslash-n), or None when the field
    cannot edit it in place: longer than INLINE_MAX, holding a backslash-n of its own (it would read back as
    a new line), a tab or a character a terminal would obey (`safetext.one_line` would replace it)."""
    if len(text) > INLINE_MAX or "\\n" in text:  # length first: a held prime can be megabytes
        return None
    value = text.replace("\n", "\\n")
    return value if one_line(value) == value else None


def prime_of(value: str) -> str:
    """The prime that a value in the field stands for: each backslash-n a new line."""
    return value.replace("\\n", "\n")


def pasted(text: str) -> str:
    """A paste's text with its line ends as a corpus has them (text/corpus.py): terminals paste CR or CRLF."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


class PrimeInput(SafeInput):
    """The generation screen's prime. `prime` is the text the model reads.

    - A prime of at most INLINE_MAX characters, typed or pasted, is the field's value and is edited as in any
      Input; a new line shows (and can be typed) as backslash-n.
    - Any other prime (longer; or with a tab, a control character or a backslash-n of its own) is held: `prime`
      is the whole text exactly as pasted, with what was typed around it; the field shows its last PREVIEW
      characters in one-line form (a new line as "␊") with the cursor at the end, and the border says how
      long it is ("prime: 30,000 chars, 412 lines"). Typing adds at the end, Backspace takes off the
      last character, Ctrl+U clears it; setting `value` replaces it. A held prime edited down to one the
      field can show goes back into the field.
    """

    # Class defaults, not __init__'s: Input.__init__ sets the value, which validate_value checks against them.
    _held: str | None = None
    _showing = False  # the value being set is the held prime's preview, not a new prime
    _title = ""  # the border title to go back to when the prime is no longer held

    # ---- the prime ------------------------------------------------------------------------------------
    @property
    def prime(self) -> str:
        """The prime, exactly: a held one as given, else the value with each backslash-n a new line."""
        return self._held if self._held is not None else prime_of(self.value)

    @property
    def held(self) -> bool:
        """The prime is held (too long, or not text the field can show as it is)."""
        return self._held is not None

    def set_prime(self, text: str) -> None:
        """Make `text` the prime: the field's value when it can be edited in place, else held."""
        value = as_value(text)
        if value is None:
            self._hold(text)
            return
        self._release()
        self.value = value
        self.cursor_position = len(value)

    def clear_prime(self) -> None:
        """An empty field (the screen then primes with the corpus's first line)."""
        self._release()
        self.value = ""

    @dataclass
    class Held(Message):
        """The prime has just become held (once, not at each key that follows): `prime_input.prime` is it."""

        prime_input: PrimeInput

    def _hold(self, text: str) -> None:
        if self._held is None:
            self._title = str(self.border_title or "")
            self.post_message(self.Held(self))
        self._held = text
        preview = one_line(text[-PREVIEW:])
        self._showing = True
        try:
            self.value = ("…" if len(text) > PREVIEW else "") + preview
        finally:
            self._showing = False
        self.cursor_position = len(self.value)
        self.border_title = f"prime: {prime_size(text, short=True)}"
        self.border_subtitle = "Ctrl+U clears"
        # Input scrolls to the cursor when the cursor moves; here it may not have (it was at the end already).
        self.call_after_refresh(self._cursor_in_view)

    def _cursor_in_view(self) -> None:
        self.scroll_to_region(Region(self._cursor_offset, 0, width=1, height=1), force=True, animate=False)

    def _release(self) -> None:
        if self._held is not None:
            self._held = None
            self.border_title, self.border_subtitle = self._title, None

    def _take(self, text: str) -> None:
        """Pasted `text`, put where the cursor or selection is (at the end of a held prime)."""
        text = pasted(text)
        if not text:
            return
        if self._held is not None:
            self._hold(self._held + text)
            return
        start, end = sorted(self.selection)
        before = prime_of(self.value[:start]) + text
        self.set_prime(before + prime_of(self.value[end:]))
        if self._held is None:  # in the field: the cursor after the pasted text, where Input puts it
            self.cursor_position = len(as_value(before) or "")

    # ---- Input's ways in --------------------------------------------------------------------------------
    def validate_value(self, value: str) -> str:
        if self._held is not None and not self._showing:
            self._release()  # a value set from outside (code, Input.clear) is the new prime
        return super().validate_value(value)

    def validate_selection(self, selection: Selection) -> Selection:
        # A held prime is edited at its end only: the preview is not the text, so no place in it maps back.
        if self._held is not None:
            return Selection.cursor(len(self.value))
        return super().validate_selection(selection)

    def _on_paste(self, event: events.Paste) -> None:
        event.stop()
        event.prevent_default()  # Input's own handler would paste the first line again
        self._take(event.text)

    def action_paste(self) -> None:
        self._take(self.app.clipboard)

    def replace(self, text: str, start: int, end: int) -> None:
        """Input's one way to edit (typing, deleting, cutting). A held prime: a deletion that reaches the start
        clears it, another takes off as many characters as it covers of the preview, typing appends."""
        if self._held is None:
            super().replace(text, start, end)
            if len(self.value) > INLINE_MAX:
                self._hold(self.prime)
            return
        start, end = sorted((max(0, start), min(len(self.value), end)))
        if end > start and start == 0:
            self.clear_prime()
            self._take(text)
            return
        held = _drop_shown(self._held, end - start) + text
        if as_value(held) is not None:
            self.set_prime(held)  # edited down to a prime the field can show: edited in place again
        else:
            self._hold(held)


def _drop_shown(text: str, cells: int) -> str:
    """`text` less its last characters whose one-line forms (one character, or a stand-in like ⟨U+202E⟩)
    make up `cells` characters of the preview."""
    cut = len(text)
    while cells > 0 and cut > 0:
        cells -= len(one_line(text[cut - 1]))
        cut -= 1
    return text[:cut]
