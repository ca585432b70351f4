"""A run's two sets of weights for the generation screen: its last step's and its best evaluation's.

A run with keep_best that trained on past its best keeps the best weights beside the last ones: a saved run in
checkpoint.pt, the run training in this session in memory (training/best_weights.py). It generates with the best
when it went back to them (`kept_step`), else with the last. The screen offers the other set too (Ctrl+B), so that
continuing a run never takes its best weights out of reach; where there is no other set, it says why.
Every model here is a CPU copy, never the trainer's own. Textual-free.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.core.events import Finished
from charrnn_tui.present.formatting import fmt_weights

LINE = 78  # the weights line's room at 80 columns (its padding takes 2): a longer one leaves out the F5 note

if TYPE_CHECKING:
    from charrnn_tui.text.vocab import Vocab
    from charrnn_tui.tui.state.session import TrainingSession


@dataclass
class WeightSets:
    """The sets of weights of one run, as CharRNN models in eval mode on the CPU (`models["best"]`,
    `models["last"]`): the best at `best_step`, the last at `trained_step` (best_step < trained_step). A run with
    one set holds it alone (`models["last"]`, `best_step` None; or `models["best"]` when its last weights are
    not saved) and `alone` says why there is no other.
    `in_use` names the set generated with."""

    run_name: str
    trained_step: int
    best_step: int | None
    models: dict[str, Any]
    in_use: str
    alone: str = ""

    @property
    def both(self) -> bool:
        """The run holds two different sets, so Ctrl+B has one to switch to."""
        return len(self.models) == 2

    @property
    def other(self) -> str:
        """The set not in use: "best" or "last"."""
        return "last" if self.in_use == "best" else "best"

    @property
    def model(self) -> Any:
        """The model holding the weights in use."""
        return self.models[self.in_use]

    @property
    def step(self) -> int:
        """The training step the weights in use are from."""
        return self.best_step if self.in_use == "best" and self.best_step is not None else self.trained_step

    def phrase(self, kind: str | None = None) -> str:
        """fmt_weights's words for the set `kind` (default: the one in use): "best weights, of step 95 (trained
        to step 100)" or "weights of step 100"."""
        kind = kind or self.in_use
        return fmt_weights(self.trained_step, self.best_step if kind == "best" else None)

    @property
    def title(self) -> str:
        """The generation screen's title: the run's name and the weights in use."""
        return f"{self.run_name}, {self.phrase()}"

    def switch(self) -> Any:
        """Use the other set from now on; returns its model. A run with one set keeps it."""
        if self.both:
            self.in_use = self.other
        return self.model


def weights_line(sets: WeightSets | None, step: int, live: bool) -> str:
    """The generation screen's line of the weights in use, at most LINE columns where the steps allow: which
    they are (fmt_weights), that F5 copies them again from a run still training (`live`), and where the run
    holds two sets, which one Ctrl+B goes to ("Ctrl+B: best weights")."""
    if sets is None or not sets.both:
        words = sets.phrase() if sets is not None else fmt_weights(step, None)
        return f"{words}, copied when this screen opened; F5 takes a fresh copy" if live else words
    key = f"Ctrl+B: {sets.other} weights"
    full = f"{sets.phrase()}; F5: fresh copies; {key}"
    return full if live and len(full) <= LINE else f"{sets.phrase()}; {key}"


def one_set(run_name: str, model: Any, step: int, why: str) -> WeightSets:
    """The sets of a run that holds only `model`, the weights of `step`; `why` there is no other, in words."""
    return WeightSets(run_name, step, None, {"last": model}, "last", why)


def two_sets(run_name: str, last: Any, best: Any, steps: tuple[int, int], in_use: str) -> WeightSets:
    """Both sets: `last` at steps[0] and `best` at steps[1] (models on the CPU, in eval mode)."""
    return WeightSets(run_name, steps[0], steps[1], {"last": last.eval(), "best": best.eval()}, in_use)


def weight_sets(run_name: str, model: Any, ckpt: dict[str, Any]) -> WeightSets:
    """The sets of a checkpoint loaded by model.checkpoint.load_model, whose `model` holds the weights the run
    ends on. One set when the run holds no best weights, or they are its last ones (a run whose best evaluation
    was its last step). The other set is a copy of `model` with its weights loaded (the model's size again)."""
    from charrnn_tui.model.checkpoint import weights_of  # torch: only once a checkpoint is loaded anyway

    best, step = weights_of(ckpt, "best"), ckpt["step"]
    if best is None or best[1] == step:
        config = ckpt.get("config_obj")
        why = (
            "its best weights are its last step's"
            if best is not None
            else "it kept no best weights (it trained without keep_best)"
            if config is not None and not config.keep_best
            else "it holds no best weights beside its last ones"
        )
        return one_set(run_name, model, step, why)
    in_use = "best" if ckpt.get("kept_step") is not None else "last"
    other = "last" if in_use == "best" else "best"
    other_model = copy.deepcopy(model)
    other_model.load_state_dict(weights_of(ckpt, other)[0])
    models = {in_use: model, other: other_model}
    return two_sets(run_name, models["last"], models["best"], (step, best[1]), in_use)


def session_weights(session: TrainingSession, best: bool = False) -> tuple[WeightSets, Vocab]:
    """CPU copies of the sets of the run training (or trained) in this session, and its vocabulary, for
    generation beside it: its current weights and its best evaluation's so far (keep_best), in use the best
    when `best` or when the run ended on them. Any thread but the UI's: a copy waits for the trainer's step.
    Raises CharRNNError before the model is built, or for `best` when no best weights are kept yet."""
    result = session.result
    kept = result.kept_step if isinstance(result, Finished) else None
    if kept is not None:  # the weights in use are the best ones already; the last are the saved checkpoint's
        model, vocab = session.snapshot()
        return _ended_on_best(session, model, result.step, kept), vocab
    best_copy = session.best_snapshot()  # before the current copy: its step cannot pass the current one's
    if best and best_copy is None:
        raise CharRNNError("no best weights are kept yet (keep_best keeps them at each better evaluation)")
    model, vocab = session.snapshot()
    step = result.step if result is not None else session.last_step.step if session.last_step else 0
    name = session.corpus_name
    if best_copy is None or best_copy[2] >= step:
        why = (
            "this run keeps no best weights (keep_best is off)"
            if not _keeps_best(session)
            else "no evaluation yet, so no best weights"
            if best_copy is None
            else f"the weights of step {step:,} are the best so far"
        )
        return one_set(name, model, step, why), vocab
    return two_sets(name, model, best_copy[0], (step, best_copy[2]), "best" if best else "last"), vocab


def _ended_on_best(session: TrainingSession, best: Any, step: int, kept: int) -> WeightSets:
    """A finished run that went back to its best weights (`best`, of step `kept`; trained to `step`): the last
    ones are on disk in its final checkpoint, when that checkpoint is of `step` (a failed write leaves none)."""
    from charrnn_tui.model.checkpoint import load, weights_of  # torch: a model is in hand already

    name = session.corpus_name
    try:
        ckpt = load(session.run_dir) if session.run_dir is not None else None
    except CharRNNError:
        ckpt = None
    if ckpt is None or ckpt["step"] != step or weights_of(ckpt, "best") is None:
        why = f"its last weights, of step {step:,}, are not saved"
        return WeightSets(name, step, kept, {"best": best}, "best", why)
    last = copy.deepcopy(best)
    last.load_state_dict(weights_of(ckpt, "last")[0])
    return two_sets(name, last, best, (step, kept), "best")


def _keeps_best(session: TrainingSession) -> bool:
    """keep_best as the trainer runs with it (a continued run's is its checkpoint's, maybe overridden)."""
    config = session.started.config if session.started is not None else session.config.to_dict()
    return bool(config.get("keep_best"))
