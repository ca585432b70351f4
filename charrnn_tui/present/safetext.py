"""Untrusted text made safe to show: the one escaping rule every display path uses.

Text from a corpus, a checkpoint, the model's output, a file name or an error message can hold bytes
that a terminal obeys rather than shows: ESC starts a control sequence (`ESC ] 52 ; c ; ... BEL` writes
the clipboard, `ESC ] 0 ; ... BEL` the window title), CR and BS overwrite what was written, and the C1
character U+009B is a one-byte CSI on some terminals. `escape()` replaces exactly those with visible
stand-ins, and leaves every character that composes text alone.

Per character class (Unicode general category, UAX #9 for the bidi controls):

- C0 controls U+0000-U+001F and DEL U+007F: their Unicode control pictures U+2400-U+241F and U+2421
  (ESC shows as "␛", BEL as "␇", CR as "␍"), one cell each. Newline and tab stay as they are unless the
  caller asks for a single line (`newlines=False`, `tabs=False`), where they show as "␊" and "␉".
- C1 controls U+0080-U+009F (no control pictures exist), lone surrogates (they cannot be encoded, and
  would crash a write), the line and paragraph separators U+2028/U+2029 (some consoles break lines on
  them, so a "single line" could be two), and the bidi embedding, override and isolate controls
  U+202A-U+202E, U+2066-U+2069 (they reorder the text around them, so what is shown is not what is
  there: the "Trojan Source" trick): shown as their code point in angle brackets, e.g. "⟨U+202E⟩".
- Kept as they are: everything else, including the other format characters (Cf) that real text needs:
  ZWNJ U+200C and ZWJ U+200D (Persian and Indic words, emoji sequences), the implicit direction marks
  LRM/RLM/ALM (U+200E, U+200F, U+061C; they only settle the direction of neutral characters in Arabic,
  Hebrew and Persian text), soft hyphen, word joiner, zero-width space, emoji tag characters (subdivision
  flags), and all combining marks and variation selectors (categories Mn, Mc, Me).

On the command line (`TextOut`), generated text is escaped only when stdout is a terminal; to a file or
a pipe it is data and is written unchanged. Progress and error lines are always escaped. A stream that
cannot encode a character writes it as a backslash escape (`\\u2605`) instead of raising.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

_BIDI_CONTROLS = (*range(0x202A, 0x202F), *range(0x2066, 0x206A))


def _tag(cp: int) -> str:
    return f"⟨U+{cp:04X}⟩"


def _table() -> dict[int, str]:
    table = {cp: chr(0x2400 + cp) for cp in range(0x20)}
    table[0x7F] = "\u2421"  # ␡
    for cp in (*range(0x80, 0xA0), 0x2028, 0x2029, *_BIDI_CONTROLS, *range(0xD800, 0xE000)):
        table[cp] = _tag(cp)
    return table


_ESCAPES = _table()
_MULTILINE = _ESCAPES | {ord("\n"): "\n", ord("\t"): "\t"}
_ONE_LINE_TABS = _ESCAPES | {ord("\t"): "\t"}
_MULTILINE_NO_TABS = _ESCAPES | {ord("\n"): "\n"}


def escape(text: str, newlines: bool = True, tabs: bool = True) -> str:
    """`text` with every character a terminal would obey replaced by a visible stand-in (see the module
    docstring for the classes). `newlines`/`tabs` False shows those as "␊"/"␉" too (one-line fields).

    Per character, so escaping a text piece by piece gives the same result as escaping it whole.
    """
    if text.isascii() and text.isprintable():  # the common case: no control character at all
        return text
    table = (_MULTILINE if tabs else _MULTILINE_NO_TABS) if newlines else (_ONE_LINE_TABS if tabs else _ESCAPES)
    return text.translate(table)


def one_line(text: str) -> str:
    """`escape` for a single-line field (a name, a status, a title): newlines and tabs made visible."""
    return escape(text, newlines=False, tabs=False)


def is_escaped(ch: str) -> bool:
    """Whether `escape` replaces this one character (newline and tab included)."""
    return ord(ch) in _ESCAPES


def encodable(text: str, stream: TextIO) -> str:
    """`text` with the characters that `stream`'s encoding cannot represent written as backslash escapes."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
        return text
    except UnicodeEncodeError:
        return text.encode(encoding, "backslashreplace").decode(encoding)
    except LookupError:
        return text.encode("ascii", "backslashreplace").decode("ascii")


def write_line(line: str, stream: TextIO | None = None) -> None:
    """Print a progress or diagnostic line: escaped, encodable, flushed. Never raises on odd text.

    One line: a newline inside it (from a file name, say) shows as "␊", so no text can forge a line of
    its own; newlines at its start (a blank line before it) are kept."""
    stream = stream if stream is not None else sys.stderr
    body = line.lstrip("\n")
    text = line[: len(line) - len(body)] + escape(body, newlines=False, tabs=True) + "\n"
    stream.write(encodable(text, stream))
    stream.flush()


def configure_streams() -> None:
    """Let stdout and stderr write any text: characters their encoding lacks (a cp1252 console,
    PYTHONIOENCODING=ascii) become backslash escapes instead of a UnicodeEncodeError mid-run."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", "strict") in ("strict", "surrogateescape"):
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a closed or detached stream: nothing to protect
                pass


class TextOut:
    """Writes generated text to a stream: escaped when the stream is a terminal, unchanged otherwise
    (a file or a pipe gets the data as it is). Characters the encoding lacks become backslash escapes."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        try:
            self.terminal = stream.isatty()
        except (AttributeError, ValueError, OSError):
            self.terminal = False

    def write(self, text: str) -> None:
        if self.terminal:
            text = escape(text)
        try:
            self.stream.write(text)
        except UnicodeEncodeError:
            self.stream.write(encodable(text, self.stream))

    def flush(self) -> None:
        self.stream.flush()


def display_path(path: str | os.PathLike[str]) -> str:
    """A path as text that can be printed: bytes that are not valid UTF-8 (a Latin-1 file name on a
    UTF-8 system) show as \\xNN escapes instead of failing to encode."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")
