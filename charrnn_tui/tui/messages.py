"""Messages the app's workers post to the UI thread. post_message is thread-safe and never blocks."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from charrnn_tui.core.events import Event, Sample, Step
from charrnn_tui.text.corpus import Corpus


class TrainerEvent(Message):
    """One trainer event. A queued Step or Sample is replaced by a newer one of its kind, so a fast
    trainer cannot flood the UI; the session keeps the full history, the message only wakes the screen."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(message, TrainerEvent)
            and isinstance(self.event, Step | Sample)
            and type(message.event) is type(self.event)
        )


class CorpusLoaded(Message):
    """A corpus finished loading off the UI thread (or failed to: `error` says why)."""

    def __init__(self, request: int, corpus: Corpus | None, vocab_size: int = 0, error: str = "") -> None:
        super().__init__()
        self.request = request
        self.corpus = corpus
        self.vocab_size = vocab_size
        self.error = error


class ModelLoaded(Message):
    """A model for the generation screen was read off the UI thread: a saved run's checkpoint, or a copy of the
    training run's weights (`live`), maybe in answer to the screen's request for a fresh copy (`refresh`)."""

    def __init__(
        self,
        model: Any = None,
        vocab: Any = None,
        prime: str = "",
        title: str = "",
        error: str = "",
        step: int | None = None,
        live: bool = False,
        refresh: bool = False,
    ) -> None:
        super().__init__()
        self.model = model
        self.vocab = vocab
        self.prime = prime
        self.title = title
        self.error = error
        self.step = step
        self.live = live
        self.refresh = refresh


class InspectionLoaded(Message):
    """A saved run's model and validation text were read off the UI thread, for the views inside the model."""

    def __init__(self, model: Any, vocab: Any, text: str, title: str) -> None:
        super().__init__()
        self.model = model
        self.vocab = vocab
        self.text = text
        self.title = title
