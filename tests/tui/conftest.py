"""Fixtures for the app's tests: an app in test mode (no blinking cursor, no animation) over the per-test
data dir that tests/conftest.py sets up, and the Hamlet corpus."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from charrnn_tui.text.corpus import Corpus, load_builtin
from charrnn_tui.tui.app import CharRNNApp


@pytest.fixture
def make_app() -> Callable[..., CharRNNApp]:
    def make(**kwargs: Any) -> CharRNNApp:
        return CharRNNApp(test_mode=True, **kwargs)

    return make


@pytest.fixture(scope="session")
def hamlet() -> Corpus:
    return load_builtin("hamlet")
