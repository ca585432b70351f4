"""The app's commands in the command palette (Ctrl+P): train, continue, generate, look inside, compare, quit and
each screen's other keys, named in words, with the key that does the same.

A command runs the very action its key runs, on the screen the palette was opened over, so the two cannot
drift apart: the key shown is read from that screen's bindings, and a command whose action the screen
refuses now (`check_action`, e.g. pause after the run ended) is not offered.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen
from textual.system_commands import SystemCommandsProvider

from charrnn_tui.tui.screens.compare import CompareScreen
from charrnn_tui.tui.screens.corpus import CorpusScreen
from charrnn_tui.tui.screens.generation import GenerationScreen
from charrnn_tui.tui.screens.training import TrainingScreen


@dataclass(frozen=True)
class Command:
    """One palette entry: `name` is what the palette lists and matches, `action` the action its key runs
    (on the screen, or on the app for "app.<name>"), `help` the line under it; `key` names the key when the
    binding that runs `action` is not the one people press (Enter in the generation screen's fields)."""

    name: str
    action: str
    help: str
    key: str = ""


QUIT = Command("Quit charrnn-tui", "app.quit", "asks first while a run is training")

# Per screen, in the order the palette lists them before anything is typed. The names start with the verb,
# so that the first letters find them ("tra" finds Train first).
SCREEN_COMMANDS: dict[type[Screen], tuple[Command, ...]] = {
    CorpusScreen: (
        Command("Train a new run on the chosen corpus", "train", "with the settings in the form"),
        Command("Continue training the highlighted saved run", "continue_run", "for another budget, on its corpus"),
        Command("Generate text from the highlighted saved run", "generate_run", "from its checkpoint"),
        Command("Look inside the highlighted saved run", "inspect_run", "surprise and cells on its validation text"),
        Command("Mark the highlighted saved run for comparison", "mark_run", "mark two or more, then compare"),
        Command("Compare the marked saved runs", "compare_runs", "their validation curves on one plot"),
    ),
    TrainingScreen: (
        Command("Pause or resume training", "pause", "the run waits after its current step"),
        Command("Save a checkpoint now", "save", "after the current step"),
        Command("Generate text from the current weights", "generate", "a copy; training goes on"),
        Command("Generate text from the best weights", "generate_best", "the best evaluation's (keep_best)"),
        Command("Stop training...", "stop", "asks whether to save first"),
        Command("Back to the corpus screen", "back", "training goes on; Ctrl+T there comes back"),
    ),
    GenerationScreen: (
        Command("Generate from the prime", "generate", "starts over with a fresh state", key="Enter"),
        Command("Generate more of the same text", "more", "the recurrent state carried on"),
        Command("Stop generating", "stop", "keeps what was written"),
        Command("Clear the text and the prime", "reset", "empties the panes and the prime field"),
        Command("Columns: 1, 2 or 4 continuations", "columns", "each with its own temperature"),
        Command("Refresh the weights from the training run", "refresh_weights", "a fresh copy of the live run"),
        Command("Switch weights: the best or the last", "switch_weights", "best and last weights; a fresh state"),
        Command("Look inside the model on this text", "inspect", "surprise, then cells"),
        Command("Back", "back", "stops a stream first"),
    ),
    CompareScreen: (
        Command("Switch the x axis: steps or seconds", "toggle_axis", "the curves against steps or seconds"),
        Command("Back to the saved runs", "app.pop_screen", "the corpus screen"),
    ),
}


def key_label(binding: Binding) -> str:
    """The first key of `binding` as people write it: "Ctrl+T", "Esc", "space", "F5", "i"."""
    *mods, name = binding.key.split(",")[0].strip().split("+")
    name = {"escape": "Esc", "enter": "Enter", "tab": "Tab"}.get(name, name)
    if mods and len(name) == 1 or name[0] == "f" and name[1:].isdigit():
        name = name.upper()
    return "+".join([m.capitalize() for m in mods] + [name])


def key_for(screen: Screen, action: str) -> str:
    """The key that runs `action` on `screen`: its own bindings, then its widgets' ("screen.<action>", as the
    saved runs list binds i, m and c); for the app's actions ("app.quit") the app's own first. "" when none."""
    if action.startswith("app."):
        wanted, nodes = {action, action[4:]}, [screen.app, screen]
    else:
        wanted, nodes = {action, f"screen.{action}"}, [screen, *screen.walk_children(with_self=False)]
    for node in nodes:
        for bindings in node._bindings.key_to_bindings.values():
            for binding in bindings:
                if binding.action in wanted:
                    return key_label(binding)
    return ""


def offered(screen: Screen) -> Iterator[tuple[str, str, object]]:
    """(name, help with the key, callback) for each command `screen` takes now, then Quit."""
    for command in (*SCREEN_COMMANDS.get(type(screen), ()), QUIT):
        app_wide = command.action.startswith("app.")
        target, name = (screen.app, command.action[4:]) if app_wide else (screen, command.action)
        if target.check_action(name, ()) is False:
            continue  # its key does nothing now either (pause after the run ended, F5 on a saved run)
        key = command.key or key_for(screen, command.action)
        help_text = f"{key} · {command.help}" if key else command.help
        yield command.name, help_text, partial(screen.run_action, command.action)


class AppCommands(Provider):
    """The calling screen's commands (SCREEN_COMMANDS) and Quit, each with its key."""

    async def discover(self) -> Hits:
        for name, help_text, callback in offered(self.screen):
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in offered(self.screen):
            if (score := matcher.match(name)) > 0:
                yield Hit(score, matcher.highlight(name), callback, text=name, help=help_text)


class SystemCommands(SystemCommandsProvider):
    """Textual's own commands (theme, keys panel, screenshot) less its Quit: AppCommands has one with its key."""

    async def discover(self) -> Hits:
        async for hit in super().discover():
            if hit.text != "Quit":
                yield hit

    async def search(self, query: str) -> Hits:
        async for hit in super().search(query):
            if hit.text != "Quit":
                yield hit


def keys_panel_open(app: App) -> bool:
    """The keys panel (Ctrl+P, Keys) is open on the current screen: then, and only then, Esc closes it. While it
    is closed the app's Esc binding is disabled, so that the screen's own Esc (back, cancel) runs and shows."""
    return bool(app.screen.query("HelpPanel"))


def close_keys_panel(app: App) -> None:
    """Close the keys panel of the current screen, if it is open."""
    app.screen.query("HelpPanel").remove()
