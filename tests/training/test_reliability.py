"""Faults and odd input, for real: kill -9, signals, a full disk, wide characters, huge vocabularies."""

from __future__ import annotations

import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from charrnn_tui.core.config import TINY as TINY_CONFIG
from charrnn_tui.core.events import Finished
from charrnn_tui.generation.generator import Generator
from charrnn_tui.model import checkpoint
from charrnn_tui.text.corpus import Corpus, load_corpus
from charrnn_tui.training.trainer import Trainer

CLI = [sys.executable, "-m", "charrnn_tui"]
TINY = ["--preset", "tiny", "--device", "cpu", "--log-interval", "1"]


def wait_for(path: Path, text: str, proc: subprocess.Popen, timeout: float = 60) -> str:
    """Wait until the file a subprocess writes its output to holds `text`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = path.read_text(encoding="utf-8") if path.exists() else ""
        if text in out:
            return out
        if proc.poll() is not None:
            pytest.fail(f"the process ended ({proc.returncode}) before printing {text!r}: {out}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"no {text!r} within {timeout} s")


def start(args: list[str], out: Path, err: Path, env: dict[str, str], **kw) -> subprocess.Popen:
    with open(out, "w") as o, open(err, "w") as e:
        return subprocess.Popen([*CLI, *args], stdout=o, stderr=e, env=env, start_new_session=True, **kw)


@pytest.mark.parametrize("sig, name, code", [(signal.SIGINT, "Ctrl+C", 130), (signal.SIGTERM, "SIGTERM", 143)])
def test_signals_save_and_exit_with_a_clear_line(cli_environ, small_text_file: Path, tmp_path: Path, sig, name, code):
    run = tmp_path / "run"
    out, err = tmp_path / "out", tmp_path / "err"
    args = ["--train-only", "--corpus", str(small_text_file), *TINY, "--steps", "0", "--max-seconds", "0",
            "--eval-interval", "1000", "--checkpoint-seconds", "0", "--run-dir", str(run)]  # fmt: skip
    proc = start(args, out, err, cli_environ)
    try:
        wait_for(out, "\nstep ", proc)
        assert not (run / "checkpoint.pt").exists()  # nothing saved yet: the signal's save is what we test
        proc.send_signal(sig)
        proc.wait(60)
    finally:
        proc.kill()
    stdout, stderr = out.read_text(), err.read_text()
    assert proc.returncode == code, stderr
    assert f"{name}: stopping after this step and saving a checkpoint..." in stderr
    assert "Traceback" not in stderr
    step = checkpoint.load(run)["step"]
    assert f"done (stopped before its budget) at step {step} " in stdout
    assert stdout.rstrip().endswith(f"resume with: charrnn-tui --train-only --resume --run-dir {run}")


def limit_file_size(limit: int):
    # Files beyond `limit` bytes fail with EFBIG (Python ignores SIGXFSZ): a disk that is full for us.
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="needs RLIMIT_FSIZE")
def test_a_full_disk_is_a_clear_error_and_keeps_the_last_checkpoint(
    cli_environ, small_text_file: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    # The run to continue, trained in this process (the CLI adds nothing to it); the continuation is the case.
    cfg = TINY_CONFIG.with_overrides(device="cpu", log_interval=1, eval_interval=5, steps=5)
    assert isinstance(Trainer(load_corpus(str(small_text_file)), cfg, run).run(), Finished)
    before = (run / "checkpoint.pt").read_bytes()
    done = subprocess.run(
        [*CLI, "--train-only", "--resume", "--run-dir", str(run), "--steps", "10"],
        capture_output=True, text=True, env=cli_environ, timeout=60,
        preexec_fn=limit_file_size(len(before) // 2),
    )  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    # The save at step 10's evaluation is refused and training goes on; the final save cannot, and says so.
    note, error = done.stderr.strip().splitlines()
    assert note.startswith(f"note: cannot write {run / 'checkpoint.pt'}: File too large; training goes on")
    assert error == (
        f"charrnn-tui: error: cannot save the weights of step 10: {run / 'checkpoint.pt'}: File too large, so they "
        f"are not on disk; the checkpoint of step 5 in {run} is kept as it was; free some space, then continue it "
        f"with: charrnn-tui --train-only --resume --run-dir {run}"
    )
    assert (run / "checkpoint.pt").read_bytes() == before
    assert not list(run.glob(".*.tmp*"))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_data_dir(run_cli, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o500)
    try:
        done = run_cli("--train-only", *TINY, "--steps", "2", env={"CHARRNN_TUI_HOME": str(home)})
    finally:
        home.chmod(0o700)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "Permission denied; the folder is not writable" in done.stderr


def mixed_script_text(n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    lines = ["한국어 문장을 배웁니다.", "오늘은 날씨가 좋다!", "中文的句子很好。", "我们一起学习吧？",
             "emoji 😀🎭❤️ 👩‍👩‍👧", "Ça va très bien.", "日本語のテキスト"]  # fmt: skip
    out, size = [], 0
    while size < n:
        line = rng.choice(lines)
        out.append(line + "\n")
        size += len(line) + 1
    return "".join(out)


def test_korean_chinese_and_emoji_train_and_generate(run_cli, tiny, tmp_path: Path) -> None:
    corpus = Corpus("mixed", mixed_script_text(20_000), "test")
    result = Trainer(corpus, tiny(steps=20), tmp_path).run()
    assert isinstance(result, Finished), result
    model, vocab, _ = checkpoint.load_model(tmp_path)
    assert "한" in vocab.chars and "😀" in vocab.chars and "\u200d" in vocab.chars
    gen = Generator(model, vocab)
    gen.feed("오늘은 ")
    text = "".join(t.char for t in gen.sample(40, 0.8, seed=1))
    assert len(text) == 40 and set(text) <= set(vocab.chars)

    done = run_cli("--generate-only", "--run-dir", str(tmp_path), "--prime", "中文", "--length", "30", "--seed", "2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("中文") and len(done.stdout) == 2 + 30 + 1


def test_a_vocabulary_of_thousands_of_characters(tiny, tmp_path: Path) -> None:
    rng = random.Random(3)
    ideographs = [chr(0x4E00 + i) for i in range(4000)]
    text = "".join(rng.choice(ideographs) + ("\n" if rng.random() < 0.05 else "") for _ in range(30_000))
    corpus = Corpus("many", text, "test")
    result = Trainer(corpus, tiny(steps=10), tmp_path).run()
    assert isinstance(result, Finished), result
    model, vocab, _ = checkpoint.load_model(tmp_path)
    assert len(vocab) > 3900
    gen = Generator(model, vocab)
    gen.feed(text[:5])
    assert len("".join(t.char for t in gen.sample(20, 1.0, top_k=50, seed=0))) == 20


def test_crlf_corpus_trains_as_plain_lines(run_cli, small_text_file: Path, tmp_path: Path) -> None:
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes(small_text_file.read_bytes().replace(b"\n", b"\r\n"))
    done = run_cli("--train-only", "--corpus", str(crlf), *TINY, "--steps", "2", "--run-dir", str(tmp_path / "r"))
    assert done.returncode == 0, done.stderr
    assert "\r" not in checkpoint.load(tmp_path / "r")["vocab"]


def test_a_step_too_large_for_a_huge_vocabulary_is_refused_before_it_allocates(tiny, tmp_path: Path) -> None:
    # 20,000 distinct characters (a CJK text can have them): batch 64 x sequence 128 would be 655 MB of logits.
    text = "".join(chr(0x4E00 + i) for i in range(20_000)) * 3
    result = Trainer(Corpus("cjk", text, "built-in"), tiny(batch_size=64, seq_len=128), tmp_path / "run").run()
    assert not isinstance(result, Finished) and "MB of logits per training step" in result.message
    assert not (tmp_path / "run").exists()
