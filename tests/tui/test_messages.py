"""The app's Textual messages in one style: dataclasses (a request nested in its sender, a worker's result
nested in its screen or widget, what the app routes in tui/messages.py), none with a hand-written __init__."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil

from textual.message import Message

import charrnn_tui.tui


def app_messages() -> list[type[Message]]:
    for info in pkgutil.walk_packages(charrnn_tui.tui.__path__, "charrnn_tui.tui."):
        importlib.import_module(info.name)
    found, todo = [], [Message]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("charrnn_tui.tui."):
                found.append(sub)
    return found


def test_every_message_is_a_dataclass_or_carries_nothing() -> None:
    messages = app_messages()
    assert len(messages) >= 20  # every screen's and widget's, found by walking the package
    hand_written = [m.__qualname__ for m in messages if "__init__" in vars(m) and not dataclasses.is_dataclass(m)]
    assert hand_written == []


def test_a_worker_result_or_a_request_is_nested_in_its_sender_unless_the_app_routes_it() -> None:
    top_level = sorted(m.__qualname__ for m in app_messages() if "." not in m.__qualname__)
    assert top_level == ["InspectionLoaded", "ModelLoaded", "TrainerEvent"]
    assert {m.__module__ for m in app_messages() if "." not in m.__qualname__} == {"charrnn_tui.tui.messages"}
