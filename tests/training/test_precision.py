"""Training precision: the choice of number format (pure), and bf16 autocast in real tiny trainings."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from charrnn_tui.cli import build_parser, config_overrides
from charrnn_tui.core.config import FAST, TINY, TUTORIAL, TrainConfig
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.core.events import Failed, Finished, Step
from charrnn_tui.model import checkpoint
from charrnn_tui.runs.metrics_log import read_metrics
from charrnn_tui.text.corpus import Corpus
from charrnn_tui.training.precision import Bf16Facts, bf16_pays, cpu_bf16_facts, resolve_precision
from charrnn_tui.training.trainer import Trainer

CPU, CUDA, MPS = torch.device("cpu"), torch.device("cuda"), torch.device("mps")


def train(corpus, cfg, run_dir=None, resume=False, stop_at=None, **kw):
    events = []

    def collect(ev):
        events.append(ev)
        if stop_at is not None and isinstance(ev, Step) and ev.step == stop_at:
            trainer.control.stop()

    trainer = Trainer(corpus, cfg, run_dir, collect, resume=resume, **kw)
    return trainer.run(), events


def losses(events) -> list[tuple[int, float]]:
    return [(e.step, e.train_loss) for e in events if isinstance(e, Step)]


# ---- the choice ------------------------------------------------------------------------------------------


# The CPUs users have, as facts (precision.Bf16Facts): an AVX2-only x86 such as an AMD Zen 2 (no native bf16, and
# oneDNN has no bf16 LSTM primitive for it), AVX-512 BF16 or AMX (both), and a CPU that emulates bf16 but whose
# LSTM layer still runs in it (an ARM build of PyTorch).
AVX2 = Bf16Facts(native=False, lstm_kernel=False)
AVX512_BF16 = Bf16Facts(native=True, lstm_kernel=True)
EMULATED = Bf16Facts(native=False, lstm_kernel=True)
CPUS = {"avx2": AVX2, "avx512-bf16": AVX512_BF16, "emulated": EMULATED}
NEEDS_BF16_LSTM = pytest.mark.skipif(
    not cpu_bf16_facts().lstm_kernel, reason="this CPU has no bf16 LSTM kernel (no AVX-512 BF16 or AMX)"
)


@pytest.mark.parametrize("facts", CPUS.values(), ids=CPUS.keys())
def test_fp32_is_plain_on_any_cpu(facts: Bf16Facts) -> None:
    assert resolve_precision("fp32", CPU, FAST, facts) is None
    assert resolve_precision("fp32", CPU, TUTORIAL, facts) is None


def test_bf16_is_honoured_wherever_the_layers_run_in_it() -> None:
    # Without native bf16 PyTorch emulates it: slower but correct, so an explicit ask is honoured.
    assert resolve_precision("bf16", CPU, FAST, AVX512_BF16) is torch.bfloat16
    assert resolve_precision("bf16", CPU, FAST, EMULATED) is torch.bfloat16
    # GRU and RNN layers run in any precision (autocast leaves the GRU in fp32); only their head changes.
    assert resolve_precision("bf16", CPU, FAST.with_overrides(cell="gru"), AVX2) is torch.bfloat16
    assert resolve_precision("bf16", CPU, FAST.with_overrides(cell="rnn"), AVX2) is torch.bfloat16


@pytest.mark.parametrize("cfg", [FAST, TINY, TUTORIAL], ids=["fast", "tiny", "tutorial"])
def test_bf16_on_a_cpu_without_the_lstm_kernel_is_refused_in_one_line(cfg: TrainConfig) -> None:
    with pytest.raises(CharRNNError) as refused:
        resolve_precision("bf16", CPU, cfg, AVX2)
    message = str(refused.value)
    assert "\n" not in message and message.endswith("use --precision fp32")
    assert "no bf16 LSTM kernel" in message and "neither AVX-512 BF16 nor AMX" in message


@pytest.mark.parametrize("facts", CPUS.values(), ids=CPUS.keys())
def test_auto_never_picks_bf16_where_it_is_not_native_or_cannot_run(facts: Bf16Facts) -> None:
    for cfg in (FAST, TINY, TUTORIAL, TrainConfig(hidden=1024, n_layers=3, batch_size=256)):
        expected = torch.bfloat16 if facts.native and facts.lstm_kernel and bf16_pays(cfg) else None
        assert resolve_precision("auto", CPU, cfg, facts) is expected
    assert resolve_precision("auto", CPU, FAST, Bf16Facts(native=True, lstm_kernel=False)) is None


def test_auto_picks_bf16_where_it_was_measured_to_pay() -> None:
    # fast (2x256) measured 1.37x faster in bf16; tiny (1x64) 8% slower; GRU/RNN unmeasured
    assert resolve_precision("auto", CPU, FAST, AVX512_BF16) is torch.bfloat16
    assert resolve_precision("auto", CPU, FAST.with_overrides(hidden=512, n_layers=3), AVX512_BF16)
    assert resolve_precision("auto", CPU, TINY, AVX512_BF16) is None
    assert resolve_precision("auto", CPU, FAST.with_overrides(hidden=128), AVX512_BF16) is None
    assert resolve_precision("auto", CPU, FAST.with_overrides(cell="gru"), AVX512_BF16) is None


def test_the_facts_are_found_once_and_match_what_the_lstm_does() -> None:
    facts = cpu_bf16_facts()
    assert cpu_bf16_facts() is facts  # cached: the probe runs once a process
    layer = torch.nn.LSTM(8, 16, 2, batch_first=True)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            layer(torch.randn(2, 5, 8))
        runs = True
    except RuntimeError:
        runs = False
    assert facts.lstm_kernel == runs
    assert "bf16 LSTM kernel" in facts.describe()


def test_cuda_follows_the_gpu_and_mps_stays_fp32() -> None:
    gpu_bf16, old_gpu = Bf16Facts(native=True, lstm_kernel=True), Bf16Facts(native=False, lstm_kernel=False)
    assert resolve_precision("auto", CUDA, FAST, gpu_bf16) is torch.bfloat16
    assert resolve_precision("auto", CUDA, FAST, old_gpu) is None
    assert resolve_precision("bf16", CUDA, FAST, gpu_bf16) is torch.bfloat16
    with pytest.raises(CharRNNError, match="this GPU has no bf16; use --precision fp32"):
        resolve_precision("bf16", CUDA, FAST, old_gpu)
    assert resolve_precision("auto", MPS, FAST, gpu_bf16) is None
    with pytest.raises(CharRNNError, match="not supported on MPS"):
        resolve_precision("bf16", MPS, FAST, gpu_bf16)


def test_unknown_precisions_are_refused() -> None:
    with pytest.raises(CharRNNError, match="precision must be one of auto, fp32, bf16"):
        resolve_precision("fp16", CPU, FAST, AVX512_BF16)
    with pytest.raises(CharRNNError, match=r"precision must be one of auto, fp32, bf16 \(got 'half'\)"):
        TrainConfig(precision="half").validate()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--train-only", "--precision", "fp16"])


def test_the_tutorial_stays_fp32_and_the_flag_reaches_the_config() -> None:
    assert TUTORIAL.precision == "fp32"
    assert resolve_precision(TUTORIAL.precision, CPU, TUTORIAL, AVX512_BF16) is None
    assert config_overrides(build_parser().parse_args(["--train-only", "--precision", "bf16"])) == {"precision": "bf16"}


# ---- real trainings ----------------------------------------------------------------------------------------


@NEEDS_BF16_LSTM
def test_bf16_trains_and_saves_fp32_weights(small_corpus: Corpus, tiny, tmp_path: Path) -> None:
    # Two layers and carried state (tbptt), so that every tensor a checkpoint holds has passed through autocast.
    cfg = tiny(steps=12, n_layers=2, hidden=32, ema=0.9, log_interval=1, eval_interval=6)
    result, bf16 = train(small_corpus, cfg.with_overrides(precision="bf16"), tmp_path / "bf16")
    assert isinstance(result, Finished) and result.step == 12, result
    _, fp32 = train(small_corpus, cfg.with_overrides(precision="fp32"))
    # autocast really acts: the same seed gives other losses, though close ones
    assert losses(bf16) != losses(fp32)
    for (_, a), (_, b) in zip(losses(bf16), losses(fp32), strict=True):
        assert a == pytest.approx(b, rel=0.02)
    ckpt = checkpoint.load(tmp_path / "bf16" / "checkpoint.pt")
    tensors = [*ckpt["model"].values(), *ckpt["eval_model"].values(), *ckpt["carry"]]
    tensors += [t for st in ckpt["optimizer"]["state"].values() for t in st.values() if t.is_floating_point()]
    assert tensors and {t.dtype for t in tensors} == {torch.float32}
    assert ckpt["config"]["precision"] == "bf16"


@NEEDS_BF16_LSTM
def test_a_bf16_run_resumes_exactly(small_corpus: Corpus, tiny, tmp_path: Path) -> None:
    cfg = tiny(steps=16, n_layers=2, hidden=32, dropout=0.2, log_interval=1, eval_interval=5, precision="bf16")
    whole, events = train(small_corpus, cfg, tmp_path / "whole")
    half, first = train(small_corpus, cfg, tmp_path / "split", stop_at=8)
    assert (half.reason, half.step) == ("stopped", 8)
    rest, second = train(small_corpus, cfg, tmp_path / "split", resume=True)
    assert rest.step == 16 and second[0].config["precision"] == "bf16"
    assert losses(first) + losses(second) == losses(events)
    assert [(r["step"], r["train_loss"]) for r in read_metrics(tmp_path / "split" / "metrics.jsonl")] == losses(events)
    assert rest.last_val_loss == whole.last_val_loss


def test_a_resumed_run_may_change_its_precision_where_the_cpu_runs_it(
    small_corpus: Corpus, tiny, tmp_path: Path
) -> None:
    train(small_corpus, tiny(steps=4, precision="fp32"), tmp_path)
    saved = (tmp_path / "checkpoint.pt").read_bytes()
    result, events = train(
        small_corpus, tiny(steps=4), tmp_path, resume=True, resume_overrides={"steps": 8, "precision": "bf16"}
    )
    if cpu_bf16_facts().lstm_kernel:
        assert isinstance(result, Finished) and result.step == 8, result
        assert events[0].config["precision"] == "bf16"
    else:  # refused before the first step, and the run is left as it was
        assert isinstance(result, Failed) and result.message.endswith("use --precision fp32")
        assert not any(isinstance(e, Step) for e in events)
        assert (tmp_path / "checkpoint.pt").read_bytes() == saved


# oneDNN's own switch: with it, an AVX-512 CPU runs the kernels of an AVX2-only one (an AMD Zen 2), where no bf16
# LSTM primitive exists. It has no effect on other CPUs, where the run then trains.
AS_AVX2 = {"ONEDNN_MAX_CPU_ISA": "AVX2"}


def test_bf16_on_an_avx2_cpu_trains_or_refuses_in_one_line(run_cli) -> None:
    done = run_cli("--train-only", "--corpus", "hamlet", "--preset", "tiny", "--steps", "8", "--precision", "bf16",
                   env=AS_AVX2)  # fmt: skip
    assert "Traceback" not in done.stderr and "training failed" not in done.stderr, done.stderr
    if done.returncode:
        assert done.returncode == 1
        errors = [line for line in done.stderr.splitlines() if line.strip()]
        assert errors == [errors[0]] and errors[0].startswith("charrnn-tui: error: --precision bf16 cannot train")
        assert errors[0].endswith("use --precision fp32")
        assert "run folder" not in done.stdout  # refused before the run began
    else:
        assert "done (" in done.stdout


def test_auto_on_an_avx2_cpu_trains(run_cli) -> None:
    done = run_cli("--train-only", "--corpus", "hamlet", "--preset", "fast", "--steps", "3", "--seq-len", "20",
                   env=AS_AVX2)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "done (" in done.stdout
