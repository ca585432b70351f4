"""The one escaping rule: controls shown, text that composes (joiners, marks, selectors) intact."""

from __future__ import annotations

import io
import unicodedata

import pytest

from charrnn_tui.generation.settings import default_prime
from charrnn_tui.present.safetext import TextOut, encodable, escape, is_escaped, one_line, write_line

OSC52 = "\x1b]52;c;SGVsbG8=\x07"  # writes the clipboard
OSC0 = "\x1b]0;TITLE\x07"  # sets the window title

# Real text whose meaning depends on format characters and combining marks:
PERSIAN = "می\u200cخواهم"  # "I want": ZWNJ keeps the prefix unjoined
HINDI = "क्\u200dष हिन्दी"  # a virama with ZWJ (half form), and vowel signs (Mc/Mn)
FAMILY = "👨\u200d👩\u200d👧"  # one emoji of three joined by ZWJ
HEART = "❤\ufe0f"  # a variation selector picks the emoji form
SCOTLAND = "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"  # tag characters (Cf)
KOREAN = "한국어 \u1100\u1161\u11a8"  # syllables, and conjoining jamo that compose one syllable
ARABIC_MARKS = "\u200fשלום\u200e abc \u061c"  # RLM, LRM, ALM: implicit marks real RTL text uses
ACCENT = "e\u0301te\u0301"  # decomposed é: combining acute
SOFT = "Donau\u00addampf\u2060schiff\u200bfahrt\ufeff"  # soft hyphen, word joiner, ZWSP, BOM (ZWNBSP)


@pytest.mark.parametrize("text", [PERSIAN, HINDI, FAMILY, HEART, SCOTLAND, KOREAN, ARABIC_MARKS, ACCENT, SOFT])
def test_text_that_composes_is_kept_exactly(text: str) -> None:
    assert escape(text) == text
    assert one_line(text) == text


def test_c0_controls_and_del_become_control_pictures() -> None:
    assert escape(OSC52) == "␛]52;c;SGVsbG8=␇"
    assert escape(OSC0) == "␛]0;TITLE␇"
    assert escape("a\rb\bc\x00\x7f") == "a␍b␈c␀␡"
    for cp in [*range(0x20), 0x7F]:
        out = escape(chr(cp), newlines=False, tabs=False)
        assert len(out) == 1 and unicodedata.category(out) == "So", hex(cp)


def test_newlines_and_tabs_kept_where_text_keeps_its_lines() -> None:
    assert escape("a\n\tb") == "a\n\tb"
    assert one_line("a\n\tb") == "a␊␉b"
    assert escape("a\n\tb", tabs=False) == "a\n␉b"


def test_c1_bidi_overrides_separators_and_surrogates_are_tagged() -> None:
    assert escape("\x9b31m") == "⟨U+009B⟩31m"  # a one-byte CSI on some terminals
    # "Trojan source": an override reverses what follows, so the shown text is not the text.
    assert escape("abc\u202edcb\u202c") == "abc⟨U+202E⟩dcb⟨U+202C⟩"
    assert escape("\u2066x\u2069") == "⟨U+2066⟩x⟨U+2069⟩"
    assert escape("one\u2028two") == "one⟨U+2028⟩two"
    assert escape("\ud800") == "⟨U+D800⟩"  # cannot be encoded: it would crash a write
    assert escape("\ud800").encode("utf-8")


def test_no_other_format_character_is_replaced() -> None:
    """Cf is decided per character: only the bidi embedding, override and isolate controls are escaped."""
    cf = [chr(cp) for cp in range(0x110000) if unicodedata.category(chr(cp)) == "Cf"]
    escaped = {f"U+{ord(c):04X}" for c in cf if is_escaped(c)}
    assert escaped == {f"U+{cp:04X}" for cp in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]}
    for cat in ("Mn", "Mc", "Me"):
        marks = [chr(cp) for cp in range(0x110000) if unicodedata.category(chr(cp)) == cat]
        assert not any(is_escaped(c) for c in marks), cat


def test_escaping_piece_by_piece_equals_escaping_whole() -> None:
    text = PERSIAN + OSC52 + "\n" + FAMILY + "\x9b" + HINDI
    assert "".join(escape(c) for c in text) == escape(text)
    assert "\x1b" not in escape(text) and "\x07" not in escape(text) and "\x9b" not in escape(text)


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_text_out_escapes_on_a_terminal_and_passes_data_through_otherwise() -> None:
    tty, pipe = FakeTty(), io.StringIO()
    for stream in (tty, pipe):
        out = TextOut(stream)
        out.write(OSC0 + PERSIAN + "\n")
        out.flush()
    assert tty.getvalue() == "␛]0;TITLE␇" + PERSIAN + "\n"
    assert pipe.getvalue() == OSC0 + PERSIAN + "\n"


def test_streams_that_cannot_encode_get_backslash_escapes() -> None:
    raw = io.BytesIO()
    ascii_out = io.TextIOWrapper(raw, encoding="ascii", errors="strict")
    TextOut(ascii_out).write("★ naïve")
    write_line("step 1 on naïve\x1b[2J", ascii_out)
    assert raw.getvalue().decode("ascii") == "\\u2605 na\\xefvestep 1 on na\\xefve\\u241b[2J\n"
    lines = io.StringIO()
    write_line("\nstopping: run folder /tmp/a\nfake line", lines)
    assert lines.getvalue() == "\nstopping: run folder /tmp/a␊fake line\n"  # no forged line
    cp1252 = io.TextIOWrapper(io.BytesIO(), encoding="cp1252")
    assert encodable("é ★", cp1252) == "é \\u2605"


@pytest.mark.parametrize(
    "head, vocab, prime",
    [
        ("HAMLET: To be\nor not", "HAMLET: Tobe\nrn", "HAMLET: To be\n"),
        ("one line, no newline", "one lin,wt", "one line, no newline"),  # a one-line corpus knows no "\n"
        ("ab☆c\nd", "abcd\n", "ab"),  # cut before a character the model never saw
        ("", "xy\n", "\n"),
        ("☆", "xy", "x"),
        (PERSIAN + "\n", PERSIAN + "\n", PERSIAN + "\n"),
    ],
)
def test_default_prime_uses_only_known_characters(head: str, vocab: str, prime: str) -> None:
    got = default_prime(head, vocab)
    assert got == prime and got and set(got) <= set(vocab)
