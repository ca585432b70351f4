"""Training precision: the choice of number format (pure), and bf16 autocast in real tiny trainings."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from charrnn_tui import checkpoint
from charrnn_tui.cli import build_parser, config_overrides
from charrnn_tui.config import FAST, TINY, TUTORIAL, TrainConfig
from charrnn_tui.corpus import Corpus
from charrnn_tui.errors import CharRNNError
from charrnn_tui.events import Finished, Step
from charrnn_tui.precision import resolve_precision
from charrnn_tui.runfolder import read_metrics
from charrnn_tui.trainer import Trainer

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


@pytest.mark.parametrize("hardware", [True, False])
def test_fp32_is_plain_and_bf16_is_honoured_on_any_cpu(hardware: bool) -> None:
    # Without native bf16 PyTorch emulates it: slower but correct, so an explicit ask is honoured.
    assert resolve_precision("fp32", CPU, FAST, hardware_bf16=hardware) is None
    assert resolve_precision("bf16", CPU, FAST, hardware_bf16=hardware) is torch.bfloat16


def test_auto_never_picks_bf16_on_a_cpu_without_it() -> None:
    for cfg in (FAST, TINY, TUTORIAL, TrainConfig(hidden=1024, n_layers=3, batch_size=256)):
        assert resolve_precision("auto", CPU, cfg, hardware_bf16=False) is None


def test_auto_picks_bf16_where_it_was_measured_to_pay() -> None:
    # fast (2x256) measured 1.37x faster in bf16; tiny (1x64) 8% slower; GRU/RNN unmeasured
    assert resolve_precision("auto", CPU, FAST, hardware_bf16=True) is torch.bfloat16
    assert resolve_precision("auto", CPU, FAST.with_overrides(hidden=512, n_layers=3), hardware_bf16=True)
    assert resolve_precision("auto", CPU, TINY, hardware_bf16=True) is None
    assert resolve_precision("auto", CPU, FAST.with_overrides(hidden=128), hardware_bf16=True) is None
    assert resolve_precision("auto", CPU, FAST.with_overrides(cell="gru"), hardware_bf16=True) is None


def test_cuda_follows_the_gpu_and_mps_stays_fp32() -> None:
    assert resolve_precision("auto", CUDA, FAST, hardware_bf16=True) is torch.bfloat16
    assert resolve_precision("auto", CUDA, FAST, hardware_bf16=False) is None
    assert resolve_precision("bf16", CUDA, FAST, hardware_bf16=True) is torch.bfloat16
    with pytest.raises(CharRNNError, match="this GPU has no bf16; use --precision fp32"):
        resolve_precision("bf16", CUDA, FAST, hardware_bf16=False)
    assert resolve_precision("auto", MPS, FAST, hardware_bf16=True) is None
    with pytest.raises(CharRNNError, match="not supported on MPS"):
        resolve_precision("bf16", MPS, FAST, hardware_bf16=True)


def test_unknown_precisions_are_refused() -> None:
    with pytest.raises(CharRNNError, match="precision must be one of auto, fp32, bf16"):
        resolve_precision("fp16", CPU, FAST, hardware_bf16=True)
    with pytest.raises(CharRNNError, match=r"precision must be one of auto, fp32, bf16 \(got 'half'\)"):
        TrainConfig(precision="half").validate()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--train-only", "--precision", "fp16"])


def test_the_tutorial_stays_fp32_and_the_flag_reaches_the_config() -> None:
    assert TUTORIAL.precision == "fp32"
    assert resolve_precision(TUTORIAL.precision, CPU, TUTORIAL, hardware_bf16=True) is None
    assert config_overrides(build_parser().parse_args(["--train-only", "--precision", "bf16"])) == {"precision": "bf16"}


# ---- real trainings ----------------------------------------------------------------------------------------


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


def test_a_resumed_run_may_change_its_precision(small_corpus: Corpus, tiny, tmp_path: Path) -> None:
    train(small_corpus, tiny(steps=4, precision="fp32"), tmp_path)
    result, events = train(
        small_corpus, tiny(steps=4), tmp_path, resume=True, resume_overrides={"steps": 8, "precision": "bf16"}
    )
    assert isinstance(result, Finished) and result.step == 8, result
    assert events[0].config["precision"] == "bf16"
