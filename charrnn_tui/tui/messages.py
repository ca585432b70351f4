"""What the app routes: messages its workers and the training thread post to the UI thread, handled by the app.
post_message is thread-safe and never blocks. A screen's or a widget's own messages (a request it makes, a
worker's result) are nested in it instead."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message

from charrnn_tui.core.events import Event, Sample, Step


@dataclass
class TrainerEvent(Message):
    """One trainer event. A queued Step or Sample is replaced by a newer one of its kind, so a fast
    trainer cannot flood the UI; the session keeps the full history, the message only wakes the screen."""

    event: Event

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(message, TrainerEvent)
            and isinstance(self.event, Step | Sample)
            and type(message.event) is type(self.event)
        )


@dataclass
class ModelLoaded(Message):
    """A model for the generation screen was read off the UI thread: a saved run's checkpoint, or a copy of the
    training run's weights (`live`), maybe in answer to the screen's request for a fresh copy (`refresh`); or
    `error` says why there is none."""

    model: Any = None
    vocab: Any = None
    prime: str = ""
    title: str = ""
    error: str = ""
    step: int | None = None
    live: bool = False
    refresh: bool = False
    weights: Any = None  # a saved run's two sets of weights (state/weight_sets.py), when it holds two


@dataclass
class InspectionLoaded(Message):
    """A saved run's model and validation text were read off the UI thread, for the views inside the model."""

    model: Any
    vocab: Any
    text: str
    title: str
