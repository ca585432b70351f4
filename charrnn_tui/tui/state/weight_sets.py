"""A saved run's two sets of weights for the generation screen: its last step's and its best evaluation's.

A run with keep_best that trained on past its best keeps the best weights in checkpoint.pt beside the last ones;
it generates with the best when it went back to them (`kept_step`), else with the last. The screen offers the
other set too, so that continuing a run never takes its best weights out of reach. Textual-free.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from charrnn_tui.present.formatting import fmt_weights


@dataclass
class WeightSets:
    """Both sets of weights of one saved run, as CharRNN models in eval mode on the CPU (`models["best"]`,
    `models["last"]`): the best at `best_step`, the last at `trained_step` (best_step < trained_step).
    `in_use` names the set generated with."""

    run_name: str
    trained_step: int
    best_step: int
    models: dict[str, Any]
    in_use: str

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
        return self.best_step if self.in_use == "best" else self.trained_step

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
        """Use the other set from now on; returns its model."""
        self.in_use = self.other
        return self.model


def weight_sets(run_name: str, model: Any, ckpt: dict[str, Any]) -> WeightSets | None:
    """Both sets of a checkpoint loaded by model.checkpoint.load_model, whose `model` holds the weights the run
    ends on; None when the run holds no best weights, or they are its last ones (a run whose best evaluation
    was its last step). The other set is a copy of `model` with its weights loaded (the model's size again)."""
    from charrnn_tui.model.checkpoint import weights_of  # torch: only once a checkpoint is loaded anyway

    best = weights_of(ckpt, "best")
    if best is None or best[1] == ckpt["step"]:
        return None
    in_use = "best" if ckpt.get("kept_step") is not None else "last"
    other = "last" if in_use == "best" else "best"
    other_model = copy.deepcopy(model)
    other_model.load_state_dict(weights_of(ckpt, other)[0])
    return WeightSets(run_name, ckpt["step"], best[1], {in_use: model, other: other_model.eval()}, in_use)
