"""What continuing a saved run needs before torch: the corpus it was trained on, found from the run's record
from any working directory, with the encoding it was read with."""

from __future__ import annotations

from pathlib import Path

from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.runs.listing import RunSummary
from charrnn_tui.runs.records import read_config
from charrnn_tui.text.corpus import Corpus, load_builtin, load_corpus, load_file


def corpus_for_run(run_dir: Path, spec: str | None = None, encoding: str | None = None) -> Corpus:
    """The corpus to continue the run in `run_dir` on: `spec` when the user names one (read with `encoding`,
    else the run's recorded encoding), else the file the run recorded, by its absolute path and encoding.

    Raises CharRNNError when the run folder is not one, or the recorded file is gone (saying where it was and
    how to point to it)."""
    if spec is not None:
        if encoding is None:  # a file the user pointed to (the run's, moved) is read as the run read it
            try:
                encoding = read_config(run_dir).corpus.encoding
            except CharRNNError:
                encoding = "utf-8"
        return load_corpus(spec, encoding)
    record = read_config(run_dir).corpus
    if record.builtin:
        return load_builtin(record.name)
    path = record.path
    if not path.is_absolute():  # a run written before the record kept absolute paths
        raise CharRNNError(
            f"this run recorded its corpus only as {record.shown!r}, relative to the folder it was started in; "
            "point to the file with --corpus PATH"
        )
    if not path.exists():
        raise CharRNNError(
            f"this run was trained on {record.shown}, which is no longer there; if it moved, point to it with "
            f"--corpus PATH (in the app: the path field that opens when you continue the run)"
        )
    return load_file(path, encoding or record.encoding)


def missing_corpus(run: RunSummary) -> Path | None:
    """The recorded corpus file of a saved run when it is no longer where the run found it, else None."""
    record = run.corpus
    if record is None or record.builtin or record.path is None:
        return None
    return None if record.path.is_absolute() and record.path.exists() else record.path
