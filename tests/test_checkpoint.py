"""Checkpoints are untrusted files: read without running code, validated, and written atomically."""

from __future__ import annotations

import io
import os
import pickle
import random
import zipfile
from pathlib import Path

import pytest
import torch

from charrnn_tui import checkpoint
from charrnn_tui.corpus import Corpus
from charrnn_tui.errors import CharRNNError
from charrnn_tui.trainer import Trainer


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, small_corpus: Corpus) -> Path:
    """A real checkpoint of a tiny model, trained once for the module."""
    from charrnn_tui.config import TINY

    run = tmp_path_factory.mktemp("trained")
    cfg = TINY.with_overrides(device="cpu", steps=5, eval_interval=5, checkpoint_seconds=0)
    assert Trainer(small_corpus, cfg, run).run().step == 5
    return run / "checkpoint.pt"


def raw(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def rewrite(path: Path, out: Path, **changes) -> Path:
    ckpt = raw(path) | changes
    torch.save(ckpt, out)
    return out


def test_round_trip(trained: Path) -> None:
    model, vocab, ckpt = checkpoint.load_model(trained)
    assert ckpt["step"] == 5 and ckpt["format"] == "charrnn-tui" and ckpt["version"] == checkpoint.VERSION
    assert not model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, ckpt["model"][k])
    assert checkpoint.load(trained.parent)["step"] == 5  # the run folder works too


class MakesAMarker:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("how", ["pickle", "torch.save"])
def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path: Path, how: str) -> None:
    marker = tmp_path / "ran"
    payload = {"format": "charrnn-tui", "version": 1, "evil": MakesAMarker(marker)}
    path = tmp_path / "evil.pt"
    if how == "pickle":
        path.write_bytes(pickle.dumps(payload, protocol=2))
    else:
        torch.save(payload, path)
    # The crafted file really would run code with an unrestricted unpickler:
    pickle.loads(pickle.dumps(MakesAMarker(tmp_path / "control")))
    assert (tmp_path / "control").exists()

    with pytest.raises(CharRNNError, match="refused unopened \\(it could run code\\)"):
        checkpoint.load(path)
    assert not marker.exists()


def test_truncated_files(trained: Path, tmp_path: Path) -> None:
    data = trained.read_bytes()
    for n in (0, 10, len(data) // 3, len(data) - 100):
        (tmp_path / "cut.pt").write_bytes(data[:n])
        with pytest.raises(CharRNNError, match="corrupt or truncated"):
            checkpoint.load(tmp_path / "cut.pt")


def test_random_bytes(tmp_path: Path) -> None:
    rng = random.Random(7)
    for i in range(5):
        p = tmp_path / f"rand{i}.pt"
        p.write_bytes(bytes(rng.randrange(256) for _ in range(2000)))
        with pytest.raises(CharRNNError, match="corrupt or truncated"):
            checkpoint.load(p)


def test_flipped_bytes_never_pass_silently_or_crash(trained: Path, tmp_path: Path) -> None:
    """Bit rot anywhere: either a clear error, or (a flip inside a weight) a loadable model."""
    data = bytearray(trained.read_bytes())
    rng = random.Random(11)
    errors = 0
    for i in range(40):
        damaged = bytearray(data)
        for pos in rng.sample(range(len(damaged)), 3):
            damaged[pos] ^= 1 << rng.randrange(8)
        p = tmp_path / f"flip{i}.pt"
        p.write_bytes(damaged)
        try:
            checkpoint.load(p)
        except CharRNNError:
            errors += 1
    assert errors > 0
    # The zip's directory and the pickle are damaged by any flip:
    for where in (len(data) - 30, data.find(b"data.pkl") + 200):
        damaged = bytearray(data)
        damaged[where] ^= 0xFF
        (tmp_path / "flip.pt").write_bytes(damaged)
        with pytest.raises(CharRNNError):
            checkpoint.load(tmp_path / "flip.pt")


def test_not_ours_and_newer_versions(trained: Path, tmp_path: Path) -> None:
    torch.save({"state_dict": {"w": torch.zeros(2)}}, tmp_path / "other.pt")
    with pytest.raises(CharRNNError, match="is not a charrnn-tui checkpoint"):
        checkpoint.load(tmp_path / "other.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(CharRNNError, match="is not a charrnn-tui checkpoint"):
        checkpoint.load(tmp_path / "list.pt")
    with pytest.raises(CharRNNError, match="newer charrnn-tui \\(format 2\\); upgrade"):
        checkpoint.load(rewrite(trained, tmp_path / "v2.pt", version=2))
    with pytest.raises(CharRNNError, match="is not a version"):
        checkpoint.load(rewrite(trained, tmp_path / "v0.pt", version="1"))
    zipfile.ZipFile(tmp_path / "empty.zip", "w").close()
    with pytest.raises(CharRNNError, match="corrupt or truncated"):
        checkpoint.load(tmp_path / "empty.zip")


def test_wrong_shapes_and_vocabulary(trained: Path, tmp_path: Path) -> None:
    ckpt = raw(trained)
    fewer = len(ckpt["vocab"]) - 1
    with pytest.raises(CharRNNError, match=f"does not match its own settings \\(vocabulary {fewer}, lstm 1x64\\)"):
        checkpoint.load(rewrite(trained, tmp_path / "vocab.pt", vocab=ckpt["vocab"][:-1]))
    bigger = ckpt["config"] | {"hidden": 128}
    with pytest.raises(CharRNNError, match="does not match its own settings.*rnn.weight_hh_l0"):
        checkpoint.load(rewrite(trained, tmp_path / "hidden.pt", config=bigger))
    model = dict(ckpt["model"])
    del model["head.bias"]
    with pytest.raises(CharRNNError, match="wrong or missing weights head.bias"):
        checkpoint.load(rewrite(trained, tmp_path / "missing.pt", model=model))
    with pytest.raises(CharRNNError, match="vocabulary is empty or repeats"):
        checkpoint.load(rewrite(trained, tmp_path / "dup.pt", vocab="aab"))
    with pytest.raises(CharRNNError, match="its 'model' entry is missing"):
        checkpoint.load(rewrite(trained, tmp_path / "nomodel.pt", model=[1]))
    with pytest.raises(CharRNNError, match="weights are not all tensors"):
        checkpoint.load(rewrite(trained, tmp_path / "notensor.pt", model=model | {"head.bias": 3}))


def test_settings_that_claim_a_huge_model_do_not_allocate_it(trained: Path, tmp_path: Path) -> None:
    # 4 layers of 10^6 units would ask for tens of terabytes; the shapes are compared before allocation.
    huge = raw(trained)["config"] | {"hidden": 1_000_000, "n_layers": 4}
    with pytest.raises(CharRNNError, match="bad settings.*hidden size must be at most 8,192"):
        checkpoint.load(rewrite(trained, tmp_path / "huge.pt", config=huge))
    # Within each cap, but too many parameters together:
    with pytest.raises(CharRNNError, match="parameters"):
        checkpoint.load(rewrite(trained, tmp_path / "big.pt", config=huge | {"hidden": 8192}))
    with pytest.raises(CharRNNError, match="bad settings.*layers must be at least 1"):
        checkpoint.load(rewrite(trained, tmp_path / "zero.pt", config=huge | {"n_layers": 0}))


def test_nan_weights_are_refused(trained: Path, tmp_path: Path) -> None:
    model = dict(raw(trained)["model"])
    model["head.weight"] = model["head.weight"].clone()
    model["head.weight"][0, 0] = float("nan")
    with pytest.raises(CharRNNError, match="NaN or infinite"):
        checkpoint.load(rewrite(trained, tmp_path / "nan.pt", model=model))


def test_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CharRNNError, match="no checkpoint at .*train first, or check --run-dir"):
        checkpoint.load(tmp_path)


def test_damaged_training_state_cannot_resume_but_says_so(trained: Path, tmp_path: Path, small_corpus) -> None:
    from charrnn_tui.config import TINY

    run = tmp_path / "run"
    run.mkdir()
    rewrite(trained, run / "checkpoint.pt", optimizer={"state": 3}, rng_torch=torch.zeros(3))
    result = Trainer(small_corpus, TINY.with_overrides(device="cpu", steps=10), run, resume=True).run()
    assert "training state is damaged" in result.message and "cannot be resumed" in result.message
    checkpoint.load_model(run)  # still good for generating


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    path = tmp_path / "file.bin"
    path.write_bytes(b"old and good")

    def half_then_fail(f: io.BufferedWriter) -> None:
        f.write(b"new but ")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        checkpoint.atomic_write(path, half_then_fail)
    assert path.read_bytes() == b"old and good"
    assert os.listdir(tmp_path) == ["file.bin"]  # no temporary left behind
    checkpoint.atomic_write(path, lambda f: f.write(b"new"))
    assert path.read_bytes() == b"new"


def test_save_into_an_impossible_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(CharRNNError, match="cannot write .*a-file/run/checkpoint.pt: Not a directory"):
        checkpoint.save(tmp_path / "a-file" / "run" / "checkpoint.pt", {"x": 1})
