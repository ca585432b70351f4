"""Snapshots of the corpus, training (running, finished, failed) and quit screens at 80x24 and 120x40 (the
generation screen at 120x36), fed fixed data: no torch training, clocks, paths or throughput of
this machine in the images. `pytest tests/tui --snapshot-update` rewrites them; look before committing."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from pathlib import Path

from tui_helpers import RUN_NAME, SMALL, WIDE, fake_saved_run, finished, runs_listed, scripted_run

from charrnn_tui.core.config import TINY
from charrnn_tui.core.events import CheckpointSaved, Failed, Paused
from charrnn_tui.generation.tokens import Token
from charrnn_tui.text.corpus import Corpus
from charrnn_tui.text.vocab import Vocab
from charrnn_tui.tui.screens.training import TrainingScreen


async def corpus_loaded(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await runs_listed(pilot)
    await pilot.app.workers.wait_for_complete()  # the n-gram baseline starts once the runs' first page shows
    await pilot.pause()


def corpus_screen(make_app, data_home: Path):
    fake_saved_run(data_home)
    return make_app()


async def training(pilot, hamlet: Corpus, until: int = 150):
    await corpus_loaded(pilot)
    app = pilot.app
    session = app.start_training(hamlet, TINY, run_dir=Path(RUN_NAME), scripted=True)
    await pilot.pause()
    for ev in scripted_run(hamlet, until=until):
        session.on_event(ev)
    assert isinstance(app.screen, TrainingScreen)
    return session


# A short story in Korean with some Latin (a local file, as a newcomer trains on it): every character two cells
# wide in the samples, a run folder named after the file.
KOREAN = (
    "옛날 옛적에 작은 마을에 한 소년이 살았습니다.", "소년은 매일 아침 강가에 나가 물고기를 잡았습니다.",
    "어느 날 소년은 커다란 금빛 물고기를 보았습니다.", '물고기가 말했습니다: "나를 놓아 주면 소원을 들어 주겠다."',
    "Seoul 2024, chapter 1.", "소년은 잠시 생각하다가 물고기를 놓아 주었습니다.\n",
)  # fmt: skip
KOREAN_RUN = "runs/한국어-단편소설-20260101-120000"


def korean_corpus() -> Corpus:
    """About 10 KB of the sentences above in a fixed random order."""
    rng = random.Random(26)
    return Corpus("한국어-단편소설", " ".join(rng.choice(KOREAN) for _ in range(300)), "/texts/한국어-단편소설.txt")


async def settle(pilot) -> None:
    assert isinstance(pilot.app.screen, TrainingScreen)
    pilot.app.screen.redraw(force=True)
    await pilot.pause()
    await pilot.pause()


class TestCorpusScreen:
    def test_corpus_screen(self, snap_compare, make_app, data_home: Path) -> None:
        assert snap_compare(corpus_screen(make_app, data_home), terminal_size=WIDE, run_before=corpus_loaded)

    def test_corpus_screen_80x24(self, snap_compare, make_app, data_home: Path) -> None:
        assert snap_compare(corpus_screen(make_app, data_home), terminal_size=SMALL, run_before=corpus_loaded)

    def test_corpus_screen_run_in_background_80x24(self, snap_compare, make_app, hamlet: Corpus) -> None:
        async def back(pilot) -> None:
            await training(pilot, hamlet)
            await pilot.press("escape")
            await runs_listed(pilot)  # shown again, the screen reads the saved runs anew
            await pilot.pause()

        assert snap_compare(make_app(), terminal_size=SMALL, run_before=back)


class TestTrainingScreen:
    @staticmethod
    def running(hamlet: Corpus):
        async def feed(pilot) -> None:
            await training(pilot, hamlet)
            await settle(pilot)

        return feed

    @staticmethod
    def finished(hamlet: Corpus):
        async def feed(pilot) -> None:
            session = await training(pilot, hamlet)
            session.on_event(CheckpointSaved(150, f"{RUN_NAME}/checkpoint.pt", "final"))
            session.on_event(finished(150, "time"))
            await settle(pilot)

        return feed

    @staticmethod
    def finished_korean():
        async def feed(pilot) -> None:
            await corpus_loaded(pilot)
            corpus = korean_corpus()
            session = pilot.app.start_training(corpus, TINY, run_dir=Path(KOREAN_RUN), scripted=True)
            await pilot.pause()
            events = scripted_run(corpus, until=150)
            train, val = corpus.split_sizes(TINY.val_fraction)
            events[0] = replace(events[0], corpus_name=corpus.name, vocab_size=len(set(corpus.text)),
                                train_chars=train, val_chars=val)  # fmt: skip
            for ev in events:
                session.on_event(ev)
            session.on_event(CheckpointSaved(150, f"{KOREAN_RUN}/checkpoint.pt", "final"))
            session.on_event(replace(finished(150, "time"), run_dir=KOREAN_RUN))
            await settle(pilot)

        return feed

    @staticmethod
    def paused(hamlet: Corpus):
        async def feed(pilot) -> None:
            session = await training(pilot, hamlet)
            session.on_event(Paused(150))
            await settle(pilot)

        return feed

    @staticmethod
    def failed(hamlet: Corpus):
        async def feed(pilot) -> None:
            session = await training(pilot, hamlet, until=40)
            session.on_event(Failed(41, "the loss is nan at step 41: lower --lr", RUN_NAME, None))
            await settle(pilot)

        return feed

    def test_training_screen(self, snap_compare, make_app, hamlet: Corpus) -> None:
        assert snap_compare(make_app(), terminal_size=WIDE, run_before=self.running(hamlet))

    def test_training_screen_80x24(self, snap_compare, make_app, hamlet: Corpus) -> None:
        assert snap_compare(make_app(), terminal_size=SMALL, run_before=self.running(hamlet))

    def test_finished(self, snap_compare, make_app, hamlet: Corpus) -> None:
        assert snap_compare(make_app(), terminal_size=WIDE, run_before=self.finished(hamlet))

    def test_finished_80x24(self, snap_compare, make_app, hamlet: Corpus) -> None:
        assert snap_compare(make_app(), terminal_size=SMALL, run_before=self.finished(hamlet))

    def test_finished_korean(self, snap_compare, make_app) -> None:
        assert snap_compare(make_app(), terminal_size=WIDE, run_before=self.finished_korean())

    def test_finished_korean_80x24(self, snap_compare, make_app) -> None:
        assert snap_compare(make_app(), terminal_size=SMALL, run_before=self.finished_korean())

    def test_paused(self, snap_compare, make_app, hamlet: Corpus) -> None:
        assert snap_compare(make_app(), terminal_size=WIDE, run_before=self.paused(hamlet))

    def test_paused_80x24(self, snap_compare, make_app, hamlet: Corpus) -> None:
        assert snap_compare(make_app(), terminal_size=SMALL, run_before=self.paused(hamlet))

    def test_failed(self, snap_compare, make_app, hamlet: Corpus) -> None:
        assert snap_compare(make_app(), terminal_size=WIDE, run_before=self.failed(hamlet))

    def test_failed_80x24(self, snap_compare, make_app, hamlet: Corpus) -> None:
        assert snap_compare(make_app(), terminal_size=SMALL, run_before=self.failed(hamlet))


class TestQuitScreen:
    @staticmethod
    def asking(hamlet: Corpus, key: str):
        async def feed(pilot) -> None:
            session = await training(pilot, hamlet)
            session.on_event(CheckpointSaved(100, f"{RUN_NAME}/checkpoint.pt", "eval"))
            await settle(pilot)
            await pilot.press(key)
            await pilot.pause()

        return feed

    def test_quit_screen(self, snap_compare, make_app, hamlet: Corpus) -> None:
        assert snap_compare(make_app(), terminal_size=WIDE, run_before=self.asking(hamlet, "ctrl+q"))

    def test_quit_screen_80x24(self, snap_compare, make_app, hamlet: Corpus) -> None:
        assert snap_compare(make_app(), terminal_size=SMALL, run_before=self.asking(hamlet, "ctrl+q"))

    def test_stop_question_80x24(self, snap_compare, make_app, hamlet: Corpus) -> None:
        assert snap_compare(make_app(), terminal_size=SMALL, run_before=self.asking(hamlet, "x"))


def fixed_tokens(text: str, vocab: Vocab) -> list[Token]:
    """Tokens with confidences that vary along the text, and a fixed top-5 ending in the drawn char."""
    out = []
    for i, ch in enumerate(text):
        prob = 0.5 + 0.49 * math.sin(i * 0.7)
        top = (("e", 0.31), (" ", 0.22), ("t", 0.12), ("o", 0.08), (ch, round(prob * 0.3, 3)))
        out.append(Token(ch, prob, top))
    return out


GENERATED = (
    ", my lord.\n\nHORATIO\nWhat, has this thing appear'd again to-night?\n\nHAMLET\n"
    "I will not speak the world, and the king is the most sore.\n"
)


class TestCompareScreen:
    @staticmethod
    async def compared(pilot) -> None:
        from charrnn_tui.tui.screens.compare import CompareScreen

        await corpus_loaded(pilot)
        pilot.app.screen.query_one("#runs").focus()
        await pilot.press("m", "down", "m", "c")
        await pilot.pause()
        assert isinstance(pilot.app.screen, CompareScreen)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.pause()

    def test_compare_screen_80x24(self, snap_compare, make_app, data_home: Path) -> None:
        from test_compare import two_runs

        two_runs(data_home)
        assert snap_compare(make_app(), terminal_size=SMALL, run_before=self.compared)

    def test_compare_screen(self, snap_compare, make_app, data_home: Path) -> None:
        from test_compare import two_runs

        two_runs(data_home)
        assert snap_compare(make_app(), terminal_size=WIDE, run_before=self.compared)
