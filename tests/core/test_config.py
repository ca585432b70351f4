"""Settings: presets, round trips, and nonsense refused with the reason."""

from __future__ import annotations

import pytest

from charrnn_tui.core.config import (
    EVAL_SHARE,
    FAST,
    NOMINAL_CHARS_PER_S,
    NOMINAL_EVAL_CHARS_PER_S,
    PRESETS,
    SHORT_RUN_ADAM_BETA2,
    SHORT_RUN_STEPS,
    SHORT_WINDOW,
    TUTORIAL,
    WIDE_HIDDEN,
    TrainConfig,
    fit_to_corpus,
    planned_epochs,
    planned_steps,
    preset,
    preset_name,
)
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.core.sizing import SHORT_WINDOW_BELOW_STEPS, afforded_width, afforded_window


def test_presets_are_valid_and_tutorial_is_the_original() -> None:
    for cfg in PRESETS.values():
        cfg.validate()
    assert (TUTORIAL.cell, TUTORIAL.n_layers, TUTORIAL.hidden, TUTORIAL.embed) == ("lstm", 3, 512, 0)
    assert (TUTORIAL.batch_size, TUTORIAL.seq_len, TUTORIAL.lr, TUTORIAL.sampling) == (200, 30, 1e-3, "random")
    # none of the later regularisers: the tutorial's network, data and optimiser exactly
    assert (TUTORIAL.dropout, TUTORIAL.weight_drop, TUTORIAL.embed_dropout, TUTORIAL.locked_dropout) == (0, 0, 0, False)
    assert (TUTORIAL.optimizer, TUTORIAL.weight_decay, TUTORIAL.grad_clip, TUTORIAL.lr_schedule) == (
        "adam",
        0,
        0,
        "constant",
    )
    with pytest.raises(CharRNNError, match="no preset named 'huge'; presets: fast, tutorial, tiny"):
        preset("huge")


def test_a_run_saved_before_the_regularisers_resumes_without_them() -> None:
    old = {
        k: v
        for k, v in FAST.to_dict().items()
        if k not in ("weight_drop", "embed_dropout", "locked_dropout", "optimizer", "adam_beta2")
    }
    cfg = TrainConfig.from_dict(old)
    assert (cfg.weight_drop, cfg.embed_dropout, cfg.locked_dropout, cfg.optimizer) == (0.0, 0.0, False, "adam")
    assert cfg.adam_beta2 == 0.999  # what torch.optim.Adam used before the setting existed


HAMLET_TRAIN, ALL_PLAYS_TRAIN, KOREAN_TRAIN = 158_715, 4_460_700, 9_246


def test_planned_epochs_is_exact_for_steps_and_nominal_for_seconds() -> None:
    assert planned_epochs(FAST.with_overrides(steps=100, max_seconds=0), 32_000) == 10.0  # 100 x 32 x 100 chars
    assert planned_epochs(FAST.with_overrides(max_seconds=60), 180_000) == 60 * NOMINAL_CHARS_PER_S / 180_000
    assert planned_epochs(FAST.with_overrides(steps=1, max_seconds=60), 3_200) == 1.0  # the budget met first
    assert planned_epochs(FAST.with_overrides(steps=0, max_seconds=0), 3_200) == float("inf")
    # ... at the rate given: a machine at half the nominal rate reads the text half as often in the same time
    assert planned_epochs(FAST.with_overrides(max_seconds=60), 180_000, 20_000) == 60 * 20_000 / 180_000
    assert planned_epochs(FAST.with_overrides(steps=100, max_seconds=0), 32_000, 20_000) == 10.0


def test_the_sizing_follows_the_rate_of_the_machine() -> None:
    # An AVX2-only Zen 2 trains Hamlet at about 19,500 chars/s: its 60 s reads the text about 7 times, not 15.
    slow, nominal = (fit_to_corpus(FAST.with_overrides(max_seconds=60), HAMLET_TRAIN, chars_per_s=r)
                     for r in (19_500, NOMINAL_CHARS_PER_S))  # fmt: skip
    assert (slow.dropout, slow.weight_drop) < (nominal.dropout, nominal.weight_drop)
    assert (nominal.dropout, nominal.weight_drop) == (0.2, 0.1)
    fast = fit_to_corpus(FAST.with_overrides(max_seconds=60), HAMLET_TRAIN, chars_per_s=64_000)
    assert fast.dropout > nominal.dropout
    # 60 s at 64,000 chars/s plans 1,200 steps: a long run's beta2
    assert (nominal.adam_beta2, fast.adam_beta2) == (SHORT_RUN_ADAM_BETA2, 0.999)
    # The evaluation's share of a step does not depend on the rate, so neither does a big text's interval.
    assert {fit_to_corpus(FAST.with_overrides(max_seconds=600), ALL_PLAYS_TRAIN, chars_per_s=r).eval_interval
            for r in (10_000, 40_000, 160_000)} == {290}  # fmt: skip


def test_the_default_is_sized_by_the_epochs_its_budget_allows() -> None:
    def sized(chars: int, seconds: float) -> TrainConfig:
        return fit_to_corpus(FAST.with_overrides(max_seconds=seconds), chars)

    # More passes over the text: more dropout, never less; one pass over 5M characters: little.
    drops = [sized(HAMLET_TRAIN, s).dropout for s in (10, 60, 180, 600, 6000)]
    assert drops == sorted(drops) and drops[0] < drops[-1]
    assert sized(ALL_PLAYS_TRAIN, 180).dropout < sized(HAMLET_TRAIN, 60).dropout < sized(HAMLET_TRAIN, 180).dropout
    # A big text keeps the preset's batch and evaluation interval.
    assert (sized(HAMLET_TRAIN, 180).batch_size, sized(HAMLET_TRAIN, 180).eval_interval) == (32, 100)
    # A tiny one gets at least 16 steps an epoch (with at least 4 streams) and an evaluation every 2 epochs or so.
    small = sized(KOREAN_TRAIN, 180)
    assert 4 <= small.batch_size < 32 and KOREAN_TRAIN / (small.batch_size * small.seq_len) >= 16
    assert 10 <= small.eval_interval <= 2.5 * KOREAN_TRAIN / (small.batch_size * small.seq_len)
    small.validate_for(KOREAN_TRAIN, 1_000)
    # Settings the user gave stay as given.
    kept = fit_to_corpus(FAST.with_overrides(dropout=0.05, batch_size=32), KOREAN_TRAIN, keep={"dropout", "batch_size"})
    assert (kept.dropout, kept.batch_size) == (0.05, 32)
    # Sized or not, it is the default preset; a changed model is not.
    assert preset_name(small) == "fast" and preset_name(small.with_overrides(hidden=512)) == "custom"


def test_a_budget_of_few_steps_affords_a_shorter_window() -> None:
    minute = FAST.with_overrides(max_seconds=60)
    # An AVX2-only CPU trains the preset at about 19,500 chars/s: 60 s is ~365 steps of 32 x 100 characters.
    short = afforded_window(minute, HAMLET_TRAIN, chars_per_s=19_500)
    assert short.seq_len == SHORT_WINDOW and short == minute.with_overrides(seq_len=SHORT_WINDOW)
    assert preset_name(short) == "fast" and preset_name(FAST.with_overrides(seq_len=64)) == "custom"
    # the threshold itself: just under it shortens, at it stays
    at = SHORT_WINDOW_BELOW_STEPS * 32 * 100 / 60
    assert afforded_window(minute, HAMLET_TRAIN, chars_per_s=at * 0.99).seq_len == SHORT_WINDOW
    assert afforded_window(minute, HAMLET_TRAIN, chars_per_s=at) == minute
    # The nominal rate (750 steps), the same CPU's 180 s (~1,100 steps), a window the user set, a budget of steps,
    # a model that is not the preset's window: as they are.
    for config, keep in (
        (minute.with_overrides(max_seconds=180), ()),
        (minute, {"seq_len"}),
        (minute.with_overrides(steps=300), ()),
        (minute.with_overrides(seq_len=80), ()),
    ):
        assert afforded_window(config, HAMLET_TRAIN, keep, 19_500) == config
    assert afforded_window(minute, HAMLET_TRAIN) == minute
    # A small text's batch shrinks (fit_to_corpus), so the same minute makes thousands of steps: its window stays.
    assert afforded_window(minute, KOREAN_TRAIN, chars_per_s=19_500) == minute


def test_a_budget_that_reads_a_large_text_many_times_affords_a_wider_model() -> None:
    hamlet_180 = FAST.with_overrides(max_seconds=180)
    # A Zen 5 trains 2x256 at about 61,000 chars/s: 180 s reads Hamlet 69 times, past what dropout still helps.
    wide = afforded_width(hamlet_180, HAMLET_TRAIN, chars_per_s=61_000)
    assert (wide.n_layers, wide.hidden) == (2, WIDE_HIDDEN) and preset_name(wide) == "fast"
    # The nominal rate (45 epochs), a Zen 2's 19,500 chars/s, or a minute: the preset's width.
    for config, rate in (
        (hamlet_180, NOMINAL_CHARS_PER_S),
        (hamlet_180, 19_500),
        (FAST.with_overrides(max_seconds=60), 61_000),
    ):
        assert afforded_width(config, HAMLET_TRAIN, chars_per_s=rate) == config
    # A small text, however many times it is read; a width the user set; a model that is not the preset's.
    assert afforded_width(hamlet_180, KOREAN_TRAIN, chars_per_s=61_000) == hamlet_180
    assert afforded_width(hamlet_180, HAMLET_TRAIN, {"hidden"}, 61_000) == hamlet_180
    deeper = hamlet_180.with_overrides(n_layers=3)
    assert afforded_width(deeper, HAMLET_TRAIN, chars_per_s=61_000) == deeper
    # Any other width is not the default preset.
    assert preset_name(FAST.with_overrides(hidden=300)) == "custom"


def test_a_large_text_is_evaluated_no_more_often_than_its_time_allows() -> None:
    def share(cfg: TrainConfig, train_chars: int) -> float:
        """The part of a run's nominal time its evaluations take, from the sizing's own yardsticks."""
        val = min(train_chars / 9, cfg.eval_max_chars)  # val_fraction 0.1
        eval_s = val / NOMINAL_EVAL_CHARS_PER_S
        steps_s = cfg.eval_interval * cfg.batch_size * cfg.seq_len / NOMINAL_CHARS_PER_S
        return eval_s / (eval_s + steps_s)

    big = fit_to_corpus(FAST.with_overrides(max_seconds=180), ALL_PLAYS_TRAIN)
    # Every 100 steps, evaluating 200,000 characters took 14 s of a 60 s run on all the plays.
    assert big.eval_interval == 290 and share(FAST, ALL_PLAYS_TRAIN) > 0.2
    assert share(big, ALL_PLAYS_TRAIN) <= EVAL_SHARE
    # A short run evaluates at least 3 times in its planned steps, whatever that costs: 60 s plans 750 steps,
    # 20 s 250 (a third: 83, to the 10 below).
    assert fit_to_corpus(FAST.with_overrides(max_seconds=60), ALL_PLAYS_TRAIN).eval_interval == 250
    assert fit_to_corpus(FAST.with_overrides(max_seconds=20), ALL_PLAYS_TRAIN).eval_interval == 80
    assert fit_to_corpus(FAST.with_overrides(steps=60, max_seconds=0), ALL_PLAYS_TRAIN).eval_interval == 20
    # Hamlet's evaluation is cheap: its interval stays the preset's 100.
    assert fit_to_corpus(FAST.with_overrides(max_seconds=60), HAMLET_TRAIN).eval_interval == 100
    # A 1M-character text lies between; an interval the user gave stays as given.
    middle = fit_to_corpus(FAST.with_overrides(max_seconds=180), 1_000_000)
    assert 100 < middle.eval_interval < 290 and share(middle, 1_000_000) <= EVAL_SHARE
    kept = fit_to_corpus(FAST.with_overrides(eval_interval=50), ALL_PLAYS_TRAIN, keep={"eval_interval"})
    assert kept.eval_interval == 50


def test_a_short_run_gets_a_shorter_memory_of_squared_gradients() -> None:
    # Hamlet's 60 s plans 750 steps (32 x 100 characters at the nominal speed), its 180 s 2,250.
    assert planned_steps(FAST.with_overrides(max_seconds=60)) == 60 * NOMINAL_CHARS_PER_S / 3_200 == 750
    assert planned_steps(FAST.with_overrides(steps=600, max_seconds=60)) == 600  # the budget met first
    assert planned_steps(FAST.with_overrides(steps=0, max_seconds=0)) == float("inf")

    def beta2(**budget: float) -> float:
        return fit_to_corpus(FAST.with_overrides(**budget), HAMLET_TRAIN).adam_beta2

    assert FAST.adam_beta2 == 0.999
    assert beta2(max_seconds=60) == beta2(steps=SHORT_RUN_STEPS, max_seconds=0) == SHORT_RUN_ADAM_BETA2 == 0.99
    assert beta2(max_seconds=180) == beta2(steps=SHORT_RUN_STEPS + 1, max_seconds=0) == beta2(max_seconds=0) == 0.999
    # A small text's smaller batch makes more steps of the same budget: Korean's 180 s is a long run.
    assert fit_to_corpus(FAST.with_overrides(max_seconds=180), KOREAN_TRAIN).adam_beta2 == 0.999
    # Given, it stays; sized or not, the run is the default preset.
    kept = fit_to_corpus(FAST.with_overrides(max_seconds=60, adam_beta2=0.9), HAMLET_TRAIN, keep={"adam_beta2"})
    assert kept.adam_beta2 == 0.9
    assert preset_name(fit_to_corpus(FAST.with_overrides(max_seconds=60), HAMLET_TRAIN)) == "fast"


def test_dict_round_trip_ignores_unknown_keys() -> None:
    cfg = preset("tiny").with_overrides(hidden=48, lr=None)
    assert cfg.hidden == 48 and cfg.lr == preset("tiny").lr
    assert TrainConfig.from_dict(cfg.to_dict() | {"from_the_future": 1}) == cfg


@pytest.mark.parametrize(
    "overrides, reason",
    [
        ({"n_layers": 0}, r"layers must be at least 1 \(got 0\)"),
        ({"lr": -0.1}, r"learning rate must be positive \(got -0.1\)"),
        ({"lr": 0}, "learning rate must be positive"),
        ({"hidden": 0}, "hidden size must be at least 1"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"batch_size": 0}, "batch size must be at least 1"),
        ({"seq_len": -5}, "sequence length must be at least 1"),
        ({"val_fraction": 0}, "validation fraction"),
        ({"cell": "transformer"}, "cell must be one of lstm, gru, rnn"),
        ({"device": "tpu"}, "device must be one of"),
        ({"steps": -1}, "steps must be 0"),
        ({"eval_interval": 0}, "eval interval must be at least 1"),
    ],
)
def test_nonsense_settings_are_refused_with_the_reason(overrides: dict, reason: str) -> None:
    with pytest.raises(CharRNNError, match=reason):
        preset("tiny").with_overrides(**overrides).validate()


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(CharRNNError) as e:
        preset("tiny").with_overrides(n_layers=0, lr=-1).validate()
    assert "layers" in str(e.value) and "learning rate" in str(e.value)


def test_the_problems_are_listed_in_the_order_of_the_settings_word_for_word() -> None:
    with pytest.raises(CharRNNError) as e:
        preset("tiny").with_overrides(cell="cnn", lr=0, seed=-1, precision="fp8").validate()
    assert str(e.value) == (
        "invalid settings: cell must be one of lstm, gru, rnn (got 'cnn'); learning rate must be positive (got 0); "
        "seed must be 0 or more, below 2**63 (got -1); precision must be one of auto, fp32, bf16 (got 'fp8')"
    )


def test_the_sizes_are_checked_once_every_setting_is_of_its_kind() -> None:
    huge = preset("tiny").with_overrides(batch_size=4096, seq_len=4096)
    with pytest.raises(CharRNNError, match=r"^invalid settings: batch 4096 x sequence 4096 is 16,777,216 characters"):
        huge.validate()
    with pytest.raises(CharRNNError) as e:
        huge.with_overrides(lr=-1).validate()
    assert str(e.value) == "invalid settings: learning rate must be positive (got -1)"


def test_corpus_too_small_for_the_batch() -> None:
    cfg = preset("tiny")  # batch 16 x sequence 32
    cfg.validate_for(10_000, 1_000)
    with pytest.raises(CharRNNError, match="too short for one window of 33"):
        cfg.validate_for(20, 5)
    with pytest.raises(CharRNNError, match="batch 16 x sequence 32 needs 513 .*lower --batch-size or --seq-len"):
        cfg.validate_for(400, 50)
    with pytest.raises(CharRNNError, match="validation split has 1 characters"):
        cfg.validate_for(10_000, 1)


@pytest.mark.parametrize(
    "overrides, reason",
    [
        ({"lr": float("nan")}, r"learning rate must be a finite number \(got nan\)"),
        ({"lr": float("inf")}, "learning rate must be a finite number"),
        ({"max_seconds": float("inf")}, "max seconds must be a finite number"),
        ({"dropout": float("nan")}, "dropout must be a finite number"),
        ({"grad_clip": float("-inf")}, "gradient clip must be a finite number"),
        ({"checkpoint_seconds": float("nan")}, "checkpoint interval must be a finite number"),
        ({"hidden": 2.5}, r"hidden size must be a whole number \(got 2.5\)"),
        ({"n_layers": True}, "layers must be a whole number"),
        ({"steps": "10"}, "steps must be a whole number"),
        ({"hidden": 8193}, "hidden size must be at most 8,192"),
        ({"n_layers": 17}, "layers must be at most 16"),
        ({"embed": 10_000}, "embedding size must be at most 8,192"),
        ({"seed": -1}, "seed must be 0 or more"),
        ({"seed": 2**63}, "seed must be at most"),
        ({"keep_best": "yes"}, "keep best must be true or false"),
        ({"batch_size": 1 << 16, "seq_len": 1 << 10}, "characters a step, more than the 4,194,304 allowed"),
        ({"hidden": 8192, "n_layers": 16}, "parameters, more than the 100,000,000 allowed"),
    ],
)
def test_numbers_must_be_finite_whole_and_within_caps(overrides: dict, reason: str) -> None:
    with pytest.raises(CharRNNError, match=reason):
        TrainConfig.from_dict(preset("tiny").to_dict() | overrides).validate()


def test_the_largest_allowed_settings_pass() -> None:
    from charrnn_tui.core.config import MAX_LAYERS, MAX_PARAMS, parameter_count

    cfg = preset("tiny").with_overrides(n_layers=MAX_LAYERS, hidden=512, embed=0, seed=2**63 - 1, lr=1e30)
    cfg.validate()
    assert parameter_count(cfg, 0) <= MAX_PARAMS


def test_generation_settings_share_one_rule() -> None:
    from charrnn_tui.generation.settings import GenerationSettings

    assert GenerationSettings.parse("500", "0.8", "").validate(min_length=1) == GenerationSettings(500, 0.8, 0)
    for fields, reason in [
        (("x", "1", "0"), "length must be a whole number"),
        (("5", "warm", "0"), "temperature must be a number"),
        (("5", "nan", "0"), r"temperature must be a finite number \(got nan\)"),
        (("5", "1e309", "0"), r"temperature must be a finite number \(got inf\)"),
        (("0", "1", "0"), "length must be 1 or more, up to 100,000"),
        (("5", "-0.5", "0"), r"temperature must be 0 \(argmax\) or more"),
        (("5", "1", "-1"), r"top-k must be 0 \(all\) or more"),
    ]:
        with pytest.raises(CharRNNError, match=reason):
            GenerationSettings.parse(*fields).validate(min_length=1, max_length=100_000)
    GenerationSettings(5, 1e-300, 0).validate()  # finite and tiny: allowed, generation treats it as argmax


def test_the_planned_epochs_read_as_words_at_every_size() -> None:
    from charrnn_tui.present.formatting import fmt_epochs, fmt_sized

    def fitted_line(config: TrainConfig, train_chars: int) -> str:
        return fmt_sized(config, train_chars, NOMINAL_CHARS_PER_S, measured=False)

    assert [fmt_epochs(e) for e in (45.4, 1.5, 1.2, 0.1, 0.02, 0.004)] == [
        "about 45 epochs", "about 2 epochs", "about 1.2 epochs", "about 0.1 epochs", "about 0.02 epochs",
        "about 0.004 epochs",
    ]  # fmt: skip
    assert fmt_epochs(float("inf")) == "no budget"  # neither steps nor seconds: not "about inf epochs"
    unbounded = fit_to_corpus(FAST.with_overrides(steps=0, max_seconds=0), HAMLET_TRAIN)
    assert fitted_line(unbounded, HAMLET_TRAIN).startswith(
        "sized for 158,715 training characters at 40,000 chars/s (nominal: not yet measured on this machine), no "
        "budget, so as for the longest runs: dropout 0.5, weight drop 0.4"
    )
    one_step = fit_to_corpus(FAST.with_overrides(steps=1, max_seconds=180), HAMLET_TRAIN)
    assert "about 0.02 epochs in the budget" in fitted_line(one_step, HAMLET_TRAIN)
