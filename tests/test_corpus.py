"""Corpora: the built-in plays as plain text, and every way a local file can be unusable."""

from __future__ import annotations

import codecs
import os
import re
from pathlib import Path

import pytest

from charrnn_tui.corpus import builtin_plays, load_builtin, load_corpus, load_file, strip_markdown
from charrnn_tui.errors import CharRNNError


def test_builtin_plays_hamlet_first_with_sizes() -> None:
    plays = builtin_plays()
    assert plays[0].name == "hamlet"
    assert len(plays) >= 30
    names = {p.name for p in plays}
    assert {"macbeth", "the-tempest", "king-lear"} <= names
    assert all(p.size > 10_000 for p in plays)


@pytest.mark.parametrize("name", ["hamlet", "macbeth", "the-tempest", "all-s-well-that-ends-well"])
def test_plays_lose_their_markdown_and_keep_their_lines(name: str) -> None:
    text = load_builtin(name).text
    for mark in ("#", "**", "_", "\\", "&amp;"):
        assert mark not in text, f"{mark!r} left in {name}"
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) > 2000
    assert not any(line != line.rstrip() for line in lines), "hard-break spaces left at line ends"
    # Speakers stand alone on their line, in capitals, with their speech on the lines below.
    speakers = [line for line in lines if re.fullmatch(r"[A-Z][A-Z .'-]+", line)]
    assert len(speakers) > 300


def test_hamlet_reads_as_a_play() -> None:
    text = load_builtin("hamlet").text
    assert text.startswith("Hamlet\n\nACT I\n\nSCENE I. Elsinore.")
    assert "\nBERNARDO\nWho's there?\n" in text
    assert "\nFRANCISCO at his post. Enter to him BERNARDO\n" in text  # a stage direction, once _italic_
    assert "To be, or not to be" in text


def test_strip_markdown_cases() -> None:
    md = "# Title\n\n## ACT I\n\n_Enter A_\n\n**A**  \nLine one,  \nline two\\[aside\\] \\- end.\n"
    assert strip_markdown(md) == "Title\n\nACT I\n\nEnter A\n\nA\nLine one,\nline two[aside] - end.\n"


def test_unknown_builtin_names_the_known_ones() -> None:
    with pytest.raises(CharRNNError, match="no built-in corpus named 'hamlett'.*hamlet, "):
        load_corpus("hamlett")


def test_load_corpus_defaults_to_hamlet_and_takes_paths(small_text_file: Path) -> None:
    assert load_corpus(None).name == "hamlet"
    c = load_corpus(str(small_text_file))
    assert c.name == "play" and c.source == str(small_text_file)
    assert c.text == small_text_file.read_text(encoding="utf-8")


def test_split_holds_out_the_tail() -> None:
    c = load_builtin("macbeth")
    train, val = c.split(0.1)
    assert train + val == c.text
    assert len(val) == int(len(c.text) * 0.1)


def write(tmp_path: Path, data: bytes, name: str = "corpus.txt") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "is empty"),
        (b"  \n\n\t \r\n", "is empty"),
        (b"text\x00\x01\x02binary", "looks binary"),
        ("caf\u00e9 na\u00efve".encode("latin-1"), r"not valid utf-8 \(byte 3\).*--encoding latin-1"),
    ],
)
def test_unusable_files_are_refused_with_the_reason(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(CharRNNError, match=message):
        load_file(write(tmp_path, data))


def test_latin1_file_loads_with_its_encoding(tmp_path: Path) -> None:
    p = write(tmp_path, "caf\u00e9 na\u00efve\n".encode("latin-1"))
    assert load_file(p, "latin-1").text == "caf\u00e9 na\u00efve\n"


def test_unknown_encoding(tmp_path: Path) -> None:
    try:
        codecs.lookup("klingon")
    except LookupError:
        pass
    else:  # some installed package registers a catch-all codec search function
        pytest.skip("this Python accepts any encoding name")
    with pytest.raises(CharRNNError, match="unknown encoding 'klingon'"):
        load_file(write(tmp_path, b"text"), "klingon")


def test_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(CharRNNError, match="corpus file not found"):
        load_file(tmp_path / "nope.txt")
    with pytest.raises(CharRNNError, match="is a directory"):
        load_file(tmp_path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path: Path) -> None:
    p = write(tmp_path, b"some text")
    p.chmod(0)
    with pytest.raises(CharRNNError, match="permission denied"):
        load_file(p)


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs /proc")
def test_unreadable_even_for_root(tmp_path: Path) -> None:
    # /proc/self/mem exists and is a file, but reading it from offset 0 fails (EIO) whoever you are.
    with pytest.raises(CharRNNError, match="cannot read /proc/self/mem"):
        load_file("/proc/self/mem")


def test_windows_line_endings_and_bom_are_normalised(tmp_path: Path) -> None:
    p = write(tmp_path, "\ufeffKING\r\nHello,\r\nworld.\rEnd\r\n".encode())
    assert load_file(p).text == "KING\nHello,\nworld.\nEnd\n"


def test_utf16_with_its_encoding(tmp_path: Path) -> None:
    p = write(tmp_path, "\ud55c\uad6d\uc5b4 text\r\n".encode("utf-16"))
    with pytest.raises(CharRNNError, match="binary|not valid utf-8"):
        load_file(p)
    assert load_file(p, "utf-16").text == "\ud55c\uad6d\uc5b4 text\n"


def test_non_latin_text_is_kept_exactly(tmp_path: Path) -> None:
    text = "\ud55c\uad6d\uc5b4 \ubb38\uc7a5\n\u4e2d\u6587\u53e5\u5b50\n\U0001f600\U0001f3ad \u00e9\n"
    p = tmp_path / "mixed.txt"
    p.write_text(text, encoding="utf-8")
    assert load_file(p).text == text
