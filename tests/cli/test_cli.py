"""The command line end to end, in real subprocesses, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

TINY = ["--preset", "tiny", "--device", "cpu", "--eval-interval", "10", "--log-interval", "5"]


# For a `python -c` probe: the heavy packages (torch, textual, numpy) it imported, as a sorted list.
HEAVY_IMPORTED = "sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'textual', 'numpy'))"


def one_error_line(done: subprocess.CompletedProcess, *needles: str) -> str:
    """The error contract: non-zero exit, exactly one line on stderr, no traceback."""
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("charrnn-tui: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_help_imports_neither_torch_nor_textual() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from charrnn_tui import cli\n"
        "cli.build_parser().format_help()\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try:\n"
        "        cli.main(['--help'])\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0\n"
        "assert '--train-only' in out.getvalue()\n"
        f"print({HEAVY_IMPORTED})\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_help(run_cli) -> None:
    done = run_cli("--help")
    assert done.returncode == 0
    for flag in ("--train-only", "--generate-only", "--list-corpora", "--resume", "--prime", "--top-k", "--lr"):
        assert flag in done.stdout


def test_list_corpora(run_cli) -> None:
    done = run_cli("--list-corpora")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].startswith("hamlet ") and lines[1].endswith(" 176,350 chars (default)")
    assert any(line.startswith("macbeth ") for line in lines)
    assert any(line.startswith("all-plays ") for line in lines)
    assert sum(" chars" in line for line in lines) >= 39


def test_train_resume_generate_end_to_end(run_cli, run_cli_together, small_text_file: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    done = run_cli("--train-only", "--corpus", str(small_text_file), *TINY, "--steps", "20", "--run-dir", str(run))
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert out[0].startswith("training LSTM 1x64") and "on play:" in out[0] and "budget 20 steps" in out[0]
    assert out[1] == f"run folder: {run}"
    steps = [line for line in out if line.startswith("step ")]
    assert [line.split()[1] for line in steps] == ["5/20", "10/20", "15/20", "20/20"]
    assert all("loss " in line and " chars/s" in line and "ETA " in line for line in steps)
    assert "val -" not in steps[-1] and " val " in steps[-1]
    assert out[-3].startswith("done (step budget reached) at step 20") and "bits/char" in out[-3]
    assert f"checkpoint {run / 'checkpoint.pt'}" in out[-3]
    # and what to do next, as commands to copy
    assert out[-2:] == [
        f"generate with: charrnn-tui --generate-only --run-dir {run}",
        f"train further with: charrnn-tui --train-only --resume --run-dir {run}",
    ]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [5, 10, 15, 20]
    assert all({"step", "train_loss", "chars_per_s", "elapsed_s"} <= r.keys() for r in rows)
    assert ["val_loss" in r for r in rows] == [False, True, False, True]

    # Resume: the corpus comes from the run; settings other than the budget stay the run's, and it says so.
    done = run_cli("--train-only", "--resume", "--run-dir", str(run), "--steps", "25", "--hidden", "8")
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "note: --hidden ignored: a resumed run keeps its own settings"
    assert done.stdout.startswith("resuming LSTM 1x64") and "continuing from step 20" in done.stdout
    assert "done (step budget reached) at step 25" in done.stdout

    # Five generations from the finished run, independent of each other: run side by side.
    args = ("--generate-only", "--run-dir", str(run), "--prime", "HAMLET", "--length", "80", "--seed", "5")
    first, again, argmax, no_prime, unseen = run_cli_together(
        args,
        args,
        ("--generate-only", "--run-dir", str(run), "--prime", "The", "--length", "30", "--temperature", "0"),
        ("--generate-only", "--run-dir", str(run), "--prime", "", "--length", "10", "--stats"),
        ("--generate-only", "--run-dir", str(run), "--prime", "Ophelia \u00e9t\u00e9 \U0001f600"),
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("HAMLET") and len(first.stdout) == len("HAMLET") + 80 + 1
    assert first.stdout == again.stdout  # seeded
    assert argmax.returncode == 0 and argmax.stdout.startswith("The")

    # No prime: start from the corpus's first line, as the tutorial did.
    assert no_prime.returncode == 0, no_prime.stderr
    assert no_prime.stdout.startswith(small_text_file.read_text().split("\n")[0] + "\n")
    assert "generated 10 chars in" in no_prime.stderr

    one_error_line(unseen, "never saw these characters: '\u00e9' '\U0001f600'")


def test_train_without_run_dir_uses_the_data_dir(run_cli, data_home: Path) -> None:
    done = run_cli("--train-only", "--corpus", "macbeth", *TINY, "--steps", "3", "--val-fraction", "0.02")
    assert done.returncode == 0, done.stderr
    runs = list((data_home / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("macbeth-")
    assert (runs[0] / "checkpoint.pt").exists() and (runs[0] / "config.json").exists()


def test_the_default_preset_says_how_it_was_sized_and_keeps_given_flags(run_cli, small_text_file: Path, tmp_path):
    # 18,000 training characters: too few for 16 batches of 32 x 100 an epoch, so the batch shrinks; the
    # dropout given on the command line stays; 2 steps get the shortest interval, 10 (3 evaluations at least).
    run = tmp_path / "run"
    args = ["--corpus", str(small_text_file), "--hidden", "16", "--dropout", "0.05", "--steps", "2", "--device", "cpu"]
    done = run_cli("--train-only", *args, "--run-dir", str(run))
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert (
        first == "sized for 18,000 training characters at 40,000 chars/s (nominal: not yet measured on this machine), "
        "about 0.1 epochs in the budget: dropout 0.05, weight drop 0, batch 11, evaluation every 10 steps, "
        "Adam beta2 0.99"
    )
    saved = json.loads((run / "config.json").read_text())["config"]
    assert (saved["batch_size"], saved["dropout"], saved["eval_interval"], saved["adam_beta2"]) == (11, 0.05, 10, 0.99)


@pytest.mark.parametrize(
    "args, needles",
    [
        (["--train-only", "--corpus", "{tmp}/nope.txt"], ["corpus file not found"]),
        (["--train-only", "--corpus", "{tmp}"], ["is a directory"]),
        (["--train-only", "--corpus", "{tmp}/empty.txt"], ["is empty"]),
        (["--train-only", "--corpus", "{tmp}/binary.bin"], ["looks binary"]),
        (["--train-only", "--corpus", "{tmp}/latin.txt"], ["not valid utf-8", "--encoding latin-1"]),
        (["--train-only", "--corpus", "{tmp}/short.txt", *TINY], ["too short for one window"]),
        (["--train-only", "--corpus", "hamlett"], ["no built-in corpus named 'hamlett'"]),
        (["--train-only", "--layers", "0", "--lr", "-1"], ["layers must be at least 1", "learning rate must be"]),
        (["--train-only", *TINY, "--batch-size", "100000"], ["batch 100000 x sequence 32", "lower --batch-size"]),
        (["--train-only", "--resume"], ["--resume needs --run-dir"]),
        (["--train-only", *TINY, "--run-dir", "{tmp}/a-file/run"], ["cannot write", "Not a directory"]),
        (["--generate-only"], ["--generate-only needs --run-dir"]),
        (["--generate-only", "--run-dir", "{tmp}"], ["no checkpoint at"]),
        (["--generate-only", "--run-dir", "{tmp}/a-file"], ["is corrupt or truncated"]),
        (["--generate-only", "--run-dir", "{tmp}", "--temperature", "-1"], ["--temperature must be 0"]),
    ],
)
def test_errors_are_one_clear_line(run_cli, tmp_path: Path, args: list[str], needles: list[str]) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "binary.bin").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "latin.txt").write_bytes("Ros\u00e9 et caf\u00e9\n".encode("latin-1") * 20)
    (tmp_path / "short.txt").write_text("To be.\n")
    (tmp_path / "a-file").write_text("not a folder")
    one_error_line(run_cli(*[a.replace("{tmp}", str(tmp_path)) for a in args]), *needles)


def test_latin1_corpus_trains_with_its_encoding(run_cli, small_text_file: Path, tmp_path: Path) -> None:
    latin = tmp_path / "latin.txt"
    latin.write_bytes((small_text_file.read_text() + "Caf\u00e9 cr\u00e8me.\n").encode("latin-1"))
    args = ["--train-only", "--corpus", str(latin), *TINY, "--steps", "3", "--run-dir", str(tmp_path / "r")]
    # The regularisers' flags ride along (one start-up for both): each lands in the run's settings.
    flags = ["--weight-drop", "0.25", "--embed-dropout", "0.1", "--locked-dropout", "--optimizer", "adamw"]
    done = run_cli(*args, *flags, "--encoding", "latin-1")
    assert done.returncode == 0, done.stderr
    saved = json.loads((tmp_path / "r" / "config.json").read_text())["config"]
    assert (saved["weight_drop"], saved["embed_dropout"], saved["locked_dropout"], saved["optimizer"]) == (
        0.25, 0.1, True, "adamw",
    )  # fmt: skip


def test_a_data_dir_that_cannot_be_created(run_cli, tmp_path: Path) -> None:
    (tmp_path / "home-file").write_text("a file where the data dir should be")
    done = run_cli("--train-only", *TINY, "--steps", "2", env={"CHARRNN_TUI_HOME": str(tmp_path / "home-file")})
    one_error_line(done, "cannot write", "home-file/runs", "Not a directory", "CHARRNN_TUI_HOME")


def test_argparse_mistakes_exit_2(run_cli) -> None:
    done = run_cli("--train-only", "--steps", "many")
    assert done.returncode == 2 and "invalid int value: 'many'" in done.stderr and "Traceback" not in done.stderr


# What a terminal obeys rather than shows: C0 controls but newline, DEL, C1 controls (0x9b is a one-byte CSI).
OBEYED = {chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))} - {"\n"}


@pytest.mark.parametrize(
    "args, shown",
    [
        (["--bogus\x1b]0;pwned\x07"], "unrecognized arguments: --bogus␛]0;pwned␇"),
        (["--corpus", "a.txt", "b\x1b]52;c;cHduZWQ=\x07\nc\x9b2J.txt"], "unrecognized arguments: b␛]52;c;cHduZWQ=␇␊c"),
        (["--preset", "\x1b[2J"], "argument --preset: invalid choice: "),
        (["--steps", "\x1b[2J\x9b1m"], "argument --steps: invalid int value: "),
        (["--t=\x1b]0;pwned\x07"], "ambiguous option: --t=␛]0;pwned␇ could match"),
    ],
)
def test_argparse_errors_show_control_characters_instead_of_obeying_them(run_cli, args: list[str], shown: str) -> None:
    """Arguments come from scripts, with file names in them: whatever argparse quotes back is escaped."""
    done = run_cli(*args)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert not OBEYED & set(done.stderr), repr(done.stderr)
    *usage, error = done.stderr.splitlines()  # a newline in an argument does not make a line of its own
    assert usage[0].startswith("usage: charrnn-tui") and error.startswith("charrnn-tui: error: ")
    assert shown in error, error
    assert "[2J" in error or "]0;pwned" in error or "]52;" in error  # which argument it was still shows


def test_help_text_is_written_through_the_escaping() -> None:
    """argparse writes usage, help and errors through one private method; the parser escapes there. If a new
    Python stopped calling it, help with a control character in it would come out raw: this notices."""
    code = (
        "import contextlib, io\n"
        "from charrnn_tui import cli\n"
        "p = cli.build_parser()\n"
        "p.add_argument('--x', help='a \\x1b]0;pwned\\x07 b')\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    p.print_help()\n"
        "print(ascii(out.getvalue()))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "a \\u241b]0;pwned\\u2407 b" in done.stdout and "\\x1b" not in done.stdout


def test_generate_without_a_checkpoint_says_so_before_importing_torch(tmp_path: Path, cli_environ) -> None:
    """The missing checkpoint is reported at once (the same line, exit 1), not after torch's ~1.5 s import."""
    code = (
        "import sys\n"
        "from charrnn_tui import cli\n"
        "code = cli.main(sys.argv[1:])\n"
        f"print(code, {HEAVY_IMPORTED})\n"
    )  # fmt: skip
    for run_dir, missing in ((tmp_path, tmp_path / "checkpoint.pt"), (tmp_path / "gone.pt", tmp_path / "gone.pt")):
        done = subprocess.run(
            [sys.executable, "-c", code, "--generate-only", "--run-dir", str(run_dir)],
            capture_output=True, text=True, timeout=60, env=cli_environ,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "1 []"
        assert done.stderr == f"charrnn-tui: error: no checkpoint at {missing}; train first, or check --run-dir\n"
