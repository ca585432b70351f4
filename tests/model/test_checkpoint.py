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

from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.model import checkpoint
from charrnn_tui.runs.folder import atomic_write
from charrnn_tui.text.corpus import Corpus
from charrnn_tui.training.trainer import Trainer


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, small_corpus: Corpus) -> Path:
    """A real checkpoint of a tiny model, trained once for the module."""
    from charrnn_tui.core.config import TINY

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
    from charrnn_tui.core.config import TINY

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
        atomic_write(path, half_then_fail)
    assert path.read_bytes() == b"old and good"
    assert os.listdir(tmp_path) == ["file.bin"]  # no temporary left behind
    atomic_write(path, lambda f: f.write(b"new"))
    assert path.read_bytes() == b"new"


def test_save_into_an_impossible_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(CharRNNError, match="cannot write .*a-file/run/checkpoint.pt: Not a directory"):
        checkpoint.save(tmp_path / "a-file" / "run" / "checkpoint.pt", {"x": 1})


# ---- a bounded cost: a small file cannot claim much memory ---------------------------------------------


def test_weights_of_expanded_views_are_refused(trained: Path, tmp_path: Path) -> None:
    from helpers.hostile import expanded_checkpoint

    path = expanded_checkpoint(trained, tmp_path / "expand.pt", hidden=3000)
    assert path.stat().st_size < 20_000  # claims 36M parameters in a few kilobytes
    with pytest.raises(CharRNNError, match="claims more values than it stores"):
        checkpoint.load(path)
    # Larger claims are refused by the settings' own caps, before any tensor is looked at:
    with pytest.raises(CharRNNError, match="more than the 100,000,000 allowed|at most 100,000,000 are allowed"):
        checkpoint.load(expanded_checkpoint(trained, tmp_path / "x6000.pt", hidden=6000))
    with pytest.raises(CharRNNError, match="hidden size must be at most 8,192"):
        checkpoint.load(expanded_checkpoint(trained, tmp_path / "x100000.pt", hidden=100_000))


def _views_of_one_buffer(weights: dict, overlap: bool) -> dict:
    """The weights as views into one flat buffer (as cuDNN lays them out), side by side or all at 0."""
    sizes = [v.numel() for v in weights.values()]
    flat = torch.cat([v.reshape(-1) for v in weights.values()])
    out, at = {}, 0
    for (k, v), n in zip(weights.items(), sizes, strict=True):
        out[k] = flat[0 if overlap else at : (0 if overlap else at) + n].view(v.shape)
        at += n
    return out


def test_views_into_one_storage_load_when_side_by_side_and_are_refused_when_they_overlap(
    trained: Path, tmp_path: Path
) -> None:
    weights = raw(trained)["model"]
    side_by_side = rewrite(trained, tmp_path / "flat.pt", model=_views_of_one_buffer(weights, overlap=False))
    model, _, _ = checkpoint.load_model(side_by_side)
    for k, v in model.state_dict().items():
        assert torch.equal(v, weights[k])
    overlapping = rewrite(trained, tmp_path / "overlap.pt", model=_views_of_one_buffer(weights, overlap=True))
    with pytest.raises(CharRNNError, match="overlap in storage"):
        checkpoint.load(overlapping)


def test_more_tensor_bytes_than_the_settings_need_are_refused(trained: Path, tmp_path: Path) -> None:
    ckpt = raw(trained)
    budget = checkpoint.tensor_budget(checkpoint.TrainConfig.from_dict(ckpt["config"]), len(ckpt["vocab"]))
    padded = rewrite(trained, tmp_path / "padded.pt", extra=torch.zeros(budget // 4 + 1, dtype=torch.float32))
    with pytest.raises(CharRNNError, match="more than its settings need"):
        checkpoint.load(padded)


def _rezip(src: Path, dst: Path, compress: int = zipfile.ZIP_STORED, replace: dict | None = None, extra: int = 0):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", compression=compress) as zout:
        for info in zin.infolist():
            data = (replace or {}).get(info.filename.split("/", 1)[1], zin.read(info))
            zout.writestr(info.filename, data, compress_type=compress)
        for i in range(extra):
            zout.writestr(f"archive/junk/{i}", b"")
    return dst


def test_the_zip_directory_is_checked_before_torch_reads_it(trained: Path, tmp_path: Path) -> None:
    assert checkpoint.load(_rezip(trained, tmp_path / "same.pt"))["step"] == 5  # a plain rewrite still loads
    with pytest.raises(CharRNNError, match="holds compressed entries"):
        checkpoint.load(_rezip(trained, tmp_path / "deflated.pt", compress=zipfile.ZIP_DEFLATED))
    with pytest.raises(CharRNNError, match="more than 10000 entries"):
        checkpoint.load(_rezip(trained, tmp_path / "many.pt", extra=checkpoint.MAX_ENTRIES))
    with pytest.raises(CharRNNError, match="its pickle is over 16 MB"):
        checkpoint.load(
            _rezip(trained, tmp_path / "bigpkl.pt", replace={"data.pkl": b"\x80\x02N." + b" " * (16 << 20)})
        )
    # A directory that declares entries larger than the file itself:
    data = bytearray(_rezip(trained, tmp_path / "lying.pt").read_bytes())
    cd = data.rfind(b"PK\x01\x02")  # the last central-directory record
    data[cd + 20 : cd + 28] = (1 << 30).to_bytes(4, "little") * 2  # compressed and uncompressed size
    (tmp_path / "lying.pt").write_bytes(data)
    with pytest.raises(CharRNNError, match="corrupt or truncated"):
        checkpoint.load(tmp_path / "lying.pt")


def test_refusing_a_hostile_checkpoint_allocates_nothing_it_claims(trained: Path, tmp_path: Path) -> None:
    """Peak memory of a fresh process refusing a 36M-parameter claim (hidden 3000): no model is built."""
    import subprocess
    import sys

    from helpers.hostile import expanded_checkpoint

    path = expanded_checkpoint(trained, tmp_path / "expand.pt", hidden=3000)
    code = (
        "import resource, sys\n"
        "from charrnn_tui.model import checkpoint\n"
        "from charrnn_tui.core.errors import CharRNNError\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n    checkpoint.load(sys.argv[1])\nexcept CharRNNError:\n    pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    grown_kb = int(done.stdout.strip().splitlines()[-1])
    assert grown_kb < 40_000, f"peak RSS grew {grown_kb} KB; the claimed model is 144 MB"


# ---- malformed entries: refused, or dropped before anything trusts them ---------------------------------


@pytest.mark.parametrize(
    "changes, check",
    [
        ({"corpus": {"head": 42, "name": "x"}}, lambda c: c["corpus"] == {"name": "x"}),
        ({"corpus": "hamlet"}, lambda c: c["corpus"] == {}),
        ({"best_val_loss": "low", "last_val_loss": float("nan")}, lambda c: c["best_val_loss"] is None),
        ({"elapsed_s": [1.0]}, lambda c: "elapsed_s" not in c),
        ({"batches": {"phase": "0", "pos": 1}}, lambda c: "batches" not in c),
        ({"carry": [torch.zeros(7)]}, lambda c: "carry" not in c),
        ({"rng_torch": "seed", "rng_data": torch.zeros(3)}, lambda c: "rng_torch" not in c and "rng_data" not in c),
        ({"world_size": 0}, lambda c: "world_size" not in c),
        (
            {"optimizer": {"state": {0: {"exp_avg": torch.zeros(2)}}, "param_groups": []}},
            lambda c: "optimizer" not in c,
        ),
    ],
)
def test_malformed_optional_entries_are_dropped(trained: Path, tmp_path: Path, changes: dict, check) -> None:
    ckpt = checkpoint.load(rewrite(trained, tmp_path / "odd.pt", **changes))
    assert check(ckpt), {k: ckpt.get(k) for k in changes}


def test_a_real_training_state_is_kept(trained: Path) -> None:
    ckpt = checkpoint.load(trained)
    for key in ("optimizer", "rng_torch", "rng_data", "batches", "carry", "elapsed_s", "world_size"):
        assert key in ckpt, key
    assert isinstance(ckpt["corpus"]["head"], str)


@pytest.mark.parametrize(
    "changes, ok",
    [
        ({"best_weights": None, "best_step": None}, True),
        ({"best_step": 3}, True),
        ({"best_step": "3"}, False),
        ({"best_step": 99}, False),  # after the last step
        ({"best_weights": [1]}, False),
        ({"best_weights": {"head.bias": torch.zeros(2)}}, False),
    ],
)
def test_best_weights_are_validated_like_eval_model(trained: Path, tmp_path: Path, changes: dict, ok: bool) -> None:
    path = rewrite(trained, tmp_path / "best.pt", **changes)
    if ok:
        checkpoint.load(path)
    else:
        with pytest.raises(CharRNNError, match="best_step|best_weights|does not match its own settings"):
            checkpoint.load(path)


def test_best_weights_of_the_right_shape_load(trained: Path, tmp_path: Path) -> None:
    best = {k: v.clone() for k, v in raw(trained)["model"].items()}
    ckpt = checkpoint.load(rewrite(trained, tmp_path / "best.pt", best_weights=best, best_step=5))
    assert ckpt["best_step"] == 5 and set(ckpt["best_weights"]) == set(best)


def test_parameter_count_matches_the_model() -> None:
    from charrnn_tui.core.config import parameter_count
    from charrnn_tui.model.charrnn import CharRNN

    for cell in ("lstm", "gru", "rnn"):
        for embed in (0, 16):
            cfg = checkpoint.TrainConfig(cell=cell, n_layers=3, hidden=24, embed=embed)
            assert parameter_count(cfg, 57) == CharRNN.from_config(57, cfg).num_params(), (cell, embed)
