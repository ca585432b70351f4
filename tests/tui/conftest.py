"""Fixtures for the app's tests: an app in test mode (no animation) over the per-test data dir that
tests/conftest.py sets up, text inputs whose cursors never blink, and the Hamlet corpus."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.widgets import Input

from charrnn_tui.text.corpus import Corpus, load_builtin
from charrnn_tui.tui.app import CharRNNApp


@pytest.fixture(autouse=True)
def steady_cursors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every text input of a test's app (any screen, any dialog) is made with a cursor that does not blink: a
    blink caught mid-way would change a snapshot. Test-only, so it lives here rather than in the screens."""
    made = Input.__init__

    def steady(self: Input, *args: Any, **kwargs: Any) -> None:
        made(self, *args, **kwargs)
        self.cursor_blink = False

    monkeypatch.setattr(Input, "__init__", steady)


@pytest.fixture
def make_app() -> Callable[..., CharRNNApp]:
    def make(**kwargs: Any) -> CharRNNApp:
        return CharRNNApp(test_mode=True, **kwargs)

    return make


@pytest.fixture(scope="session")
def hamlet() -> Corpus:
    return load_builtin("hamlet")
