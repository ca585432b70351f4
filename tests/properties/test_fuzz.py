"""Property-based tests: random bytes at corpus loading, random mutations of a real checkpoint, random
settings. Nothing may raise anything but CharRNNError, hang, or allocate beyond the bound.

Derandomized (the same examples on every run, so CI is stable) and sized to stay well under a minute.
"""

from __future__ import annotations

import io
import math
import resource
import tempfile
import time
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charrnn_tui.core.config import MAX_PARAMS, TINY, TrainConfig, parameter_count
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.generation.settings import GenerationSettings
from charrnn_tui.model import checkpoint
from charrnn_tui.present.safetext import escape
from charrnn_tui.text.corpus import Corpus, load_file
from charrnn_tui.training.trainer import Trainer

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
SLOW_S = 10.0  # one load taking longer than this counts as a hang
RSS_GROWTH_KB = 300_000  # the peak of the whole process may not grow more than this over a test


def peak_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


@pytest.fixture(scope="module")
def trained_bytes(tmp_path_factory: pytest.TempPathFactory, small_corpus: Corpus) -> bytes:
    run = tmp_path_factory.mktemp("fuzz-run")
    cfg = TINY.with_overrides(device="cpu", steps=2, eval_interval=2, checkpoint_seconds=0, hidden=16, embed=8)
    assert Trainer(small_corpus, cfg, run).run().step == 2
    return Blob((run / "checkpoint.pt").read_bytes())


class Blob(bytes):
    """Bytes that print short in a failure report."""

    def __repr__(self) -> str:
        return f"<checkpoint of {len(self)} bytes>"


def load_bytes(data: bytes) -> bool:
    """Load `data` as a checkpoint file: a payload (True) or a CharRNNError (False), quickly; anything
    else fails the test."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "checkpoint.pt"
        path.write_bytes(data)
        t0 = time.perf_counter()
        try:
            ckpt = checkpoint.load(path)
        except CharRNNError as e:
            assert str(e)
            loaded = False
        else:
            loaded = True
            # What the front ends read from a payload that passed must be of the right kind.
            assert isinstance(ckpt["corpus"], dict) and all(isinstance(v, str) for v in ckpt["corpus"].values())
            assert ckpt["model_obj"].num_params() <= MAX_PARAMS
            for key in ("best_val_loss", "last_val_loss"):
                assert ckpt[key] is None or math.isfinite(ckpt[key])
        assert time.perf_counter() - t0 < SLOW_S
    return loaded


def save_bytes(payload: dict) -> bytes:
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()


# ---- corpus files ----------------------------------------------------------------------------------------


@FUZZ
@given(data=st.binary(max_size=2048), encoding=st.sampled_from(["utf-8", "latin-1", "utf-16", "cp1252", "ascii"]))
def test_random_bytes_at_corpus_loading(data: bytes, encoding: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "corpus.txt"
        path.write_bytes(data)
        try:
            corpus = load_file(path, encoding)
        except CharRNNError as e:
            assert str(e)
        else:
            assert corpus.text and "\r" not in corpus.text


# ---- checkpoints -----------------------------------------------------------------------------------------


@settings(FUZZ, max_examples=150)
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=6))
def test_byte_flips(trained_bytes: bytes, flips: list[tuple[float, int]]) -> None:
    data = bytearray(trained_bytes)
    for where, mask in flips:
        data[int(where * len(data))] ^= mask
    load_bytes(bytes(data))


@settings(FUZZ, max_examples=25)
@given(keep=st.floats(0, 1, exclude_max=True))
def test_truncation(trained_bytes: bytes, keep: float) -> None:
    assert not load_bytes(trained_bytes[: int(keep * len(trained_bytes))])


def odd_tensors() -> st.SearchStrategy:
    shapes = st.lists(st.integers(0, 5), max_size=3).map(tuple)
    plain = st.builds(
        lambda s, d: torch.zeros(s, dtype=d),
        shapes,
        st.sampled_from([torch.float32, torch.int64, torch.uint8, torch.bool]),
    )
    # Views that claim more than they store: the memory attack.
    expanded = st.builds(lambda n: torch.zeros(1).expand(n, n), st.sampled_from([64, 4096, 20_000]))
    return st.one_of(plain, expanded, st.just(torch.tensor(float("nan"))), st.just(torch.zeros(3)[1:]))


def odd_values() -> st.SearchStrategy:
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20), st.binary(max_size=10), odd_tensors(),
    )  # fmt: skip
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=3),
        ),
        max_leaves=6,
    )


ENTRIES = [
    "format", "version", "model", "eval_model", "best_weights", "best_step", "optimizer", "vocab", "config", "step",
    "elapsed_s", "rng_torch", "rng_data", "batches", "carry", "world_size", "corpus", "best_val_loss",
    "last_val_loss",
]  # fmt: skip


@settings(FUZZ, max_examples=250)
@given(key=st.sampled_from(ENTRIES), value=odd_values(), delete=st.booleans())
def test_entries_replaced_with_other_types(trained_bytes: bytes, key: str, value, delete: bool) -> None:
    payload = torch.load(io.BytesIO(trained_bytes), weights_only=True)
    if delete:
        payload.pop(key, None)
    else:
        payload[key] = value
    before = peak_rss_kb()
    load_bytes(save_bytes(payload))
    assert peak_rss_kb() - before < RSS_GROWTH_KB


CONFIG_FIELDS = list(TINY.to_dict())


@settings(FUZZ, max_examples=200)
@given(changes=st.dictionaries(st.sampled_from(CONFIG_FIELDS), odd_values(), min_size=1, max_size=3))
def test_settings_inside_a_checkpoint(trained_bytes: bytes, changes: dict) -> None:
    payload = torch.load(io.BytesIO(trained_bytes), weights_only=True)
    payload["config"] = payload["config"] | changes
    before = peak_rss_kb()
    load_bytes(save_bytes(payload))
    assert peak_rss_kb() - before < RSS_GROWTH_KB


@settings(FUZZ, max_examples=40)
@given(
    key=st.sampled_from(["model", "eval_model", "optimizer"]),
    hidden=st.sampled_from([16, 17, 300, 3000, 6000, 100_000]),
    n_layers=st.integers(1, 20),
)
def test_inflated_shapes_via_expand(trained_bytes: bytes, key: str, hidden: int, n_layers: int) -> None:
    """Settings that claim a bigger model, weights of the claimed shapes made of stride-0 views."""
    from charrnn_tui.model.charrnn import CharRNN

    payload = torch.load(io.BytesIO(trained_bytes), weights_only=True)
    config = payload["config"] | {"hidden": hidden, "n_layers": n_layers}
    try:
        cfg = TrainConfig.from_dict(config)
        with torch.device("meta"):
            shapes = {k: v.shape for k, v in CharRNN.from_config(len(payload["vocab"]), cfg).state_dict().items()}
    except (RuntimeError, ValueError):
        shapes = {k: v.shape for k, v in payload["model"].items()}
    views = {k: torch.zeros(1).expand(s) for k, s in shapes.items()}
    if key == "optimizer":
        payload["optimizer"] = {"state": {i: {"exp_avg": v} for i, v in enumerate(views.values())}, "param_groups": []}
    else:
        payload[key] = views
    payload["config"] = config
    before = peak_rss_kb()
    load_bytes(save_bytes(payload))
    assert peak_rss_kb() - before < RSS_GROWTH_KB


# ---- settings --------------------------------------------------------------------------------------------

NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
    st.text(max_size=5), st.sampled_from([0, 1, 2, 8192, 8193, 2**63 - 1, 2**63, 1e-40, 5e-324]),
)  # fmt: skip


@settings(FUZZ, max_examples=300)
@given(changes=st.dictionaries(st.sampled_from(CONFIG_FIELDS), NUMBERS, max_size=6))
def test_train_config_validate(changes: dict) -> None:
    cfg = TrainConfig.from_dict(TINY.to_dict() | changes)
    try:
        cfg.validate()
    except CharRNNError as e:
        assert str(e).startswith("invalid settings: ")
        return
    for name, value in cfg.to_dict().items():
        if isinstance(value, float):
            assert math.isfinite(value), name
    assert parameter_count(cfg, 0) <= MAX_PARAMS


@settings(FUZZ, max_examples=300)
@given(length=NUMBERS, temperature=NUMBERS, top_k=NUMBERS, seed=NUMBERS)
def test_generation_settings_validate(length, temperature, top_k, seed) -> None:
    try:
        s = GenerationSettings(length, temperature, top_k, seed).validate()
    except CharRNNError as e:
        assert str(e)
        return
    assert isinstance(s.length, int) and math.isfinite(s.temperature) and s.temperature >= 0
    assert seed is None or 0 <= seed < 2**63


@settings(FUZZ, max_examples=200)
@given(fields=st.tuples(st.text(max_size=12), st.text(max_size=12), st.text(max_size=12)))
def test_generation_settings_from_text_fields(fields: tuple[str, str, str]) -> None:
    try:
        GenerationSettings.parse(*fields).validate(min_length=1, max_length=100_000)
    except CharRNNError as e:
        assert str(e)


@pytest.fixture(scope="module")
def generator(trained_bytes: bytes):
    from charrnn_tui.generation.generator import Generator

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "checkpoint.pt").write_bytes(trained_bytes)
        model, vocab, _ = checkpoint.load_model(d)
    return Generator(model, vocab), vocab


@settings(FUZZ, max_examples=60)
@given(
    temperature=st.one_of(st.floats(0, 100), st.sampled_from([0.0, 5e-324, 1e-40, 1e-5, 1e-4, 100.0])),
    top_k=st.integers(0, 2**20),
    seed=st.integers(0, 2**63 - 1),
)
def test_every_valid_setting_generates(generator, temperature: float, top_k: int, seed: int) -> None:
    gen, vocab = generator
    s = GenerationSettings(5, temperature, top_k, seed).validate()
    gen.reset()
    gen.feed(vocab.chars[0])
    out = [t.char for t in gen.sample(s.length, s.temperature, s.top_k, s.seed)]
    assert len(out) == 5 and all(c in vocab.index for c in out)


@settings(FUZZ, max_examples=300)
@given(a=st.text(st.characters(exclude_categories=())), b=st.text(st.characters(exclude_categories=())))
def test_escape_leaves_no_control_and_works_piecewise(a: str, b: str) -> None:
    out = escape(a + b)
    assert out == escape(a) + escape(b)
    assert escape(out) == out  # what it shows is stable
    bad = {*map(chr, range(0x20)), "\x7f", *map(chr, range(0x80, 0xA0)), "\u202e", "\u2066"} - {"\n", "\t"}
    assert not set(out) & bad
    out.encode("utf-8")  # no lone surrogate left: always writable
