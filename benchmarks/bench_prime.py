"""A long prime: the memory it takes and how soon the prime field answers, each in a fresh process.

- "engine": `Generator.feed` of an N-character prime (Hamlet repeated) with the default preset's shape
  (2x256 LSTM, embed 64, random weights: memory and speed do not depend on them), against the feed as first
  written, the whole prime in one `model(...)` call ("one pass"), which kept every layer's output for every
  character. The figure is the peak resident memory the feed adds (ru_maxrss after, less RSS before).
- "input": Textual's own Input (the field as it was) in a bare App, a one-line 30,000-character paste,
  then End and a key, timed until the field holds the key: the baseline for "app".
- "in tmux": the same in a real terminal (a detached tmux pane; the app alone, one field): tmux's bracketed
  paste, and the same characters sent as keys (a terminal or a remote session without bracketed paste);
  Textual's Input against the prime field.
- "app": the real app (App.run_test, 120x36) on the generation screen with that model: the prime pasted into
  the field (a Paste event, as a terminal's bracketed paste arrives), then End and a key pressed, timed until
  the field holds the key; then Enter, and the peak memory until 500 characters are generated.

    flock /tmp/charrnn-cpu.lock .venv/bin/python benchmarks/bench_prime.py
    flock /tmp/charrnn-cpu.lock .venv/bin/python benchmarks/bench_prime.py --chars 1000000 --one-pass-chars 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def model_and_prime(chars: int):
    import torch

    from charrnn_tui.model.charrnn import CharRNN
    from charrnn_tui.text.corpus import load_builtin
    from charrnn_tui.text.vocab import Vocab

    text = load_builtin("hamlet").text
    vocab = Vocab.from_text(text)
    torch.manual_seed(0)
    model = CharRNN(len(vocab), "lstm", 2, 256, 64).eval()
    prime = (text * (chars // len(text) + 1))[:chars]
    return model, vocab, prime


def engine_child(chars: int, one_pass: bool) -> dict:
    import torch

    from charrnn_tui.generation.generator import Generator

    model, vocab, prime = model_and_prime(chars)
    gen = Generator(model, vocab)
    gen.feed(prime[:5000])  # torch's first-call allocations, before the measure
    gen.reset()
    before = rss_mb()
    t0 = time.perf_counter()
    if one_pass:
        with torch.no_grad():
            logits, _ = model(torch.tensor([vocab.encode(prime)]))
    else:
        gen.feed(prime)
    return {"before_mb": before, "peak_mb": peak_mb(), "feed_s": time.perf_counter() - t0}


def app_child(chars: int) -> dict:
    from textual import events

    from charrnn_tui.tui.app import CharRNNApp
    from charrnn_tui.tui.screens.generation import GenerationScreen

    model, vocab, prime = model_and_prime(chars)

    async def main() -> dict:
        app = CharRNNApp(test_mode=True)
        async with app.run_test(size=(120, 36)) as pilot:
            screen = GenerationScreen(model, vocab, "HAMLET\n", "bench")
            await app.push_screen(screen)
            await pilot.pause()
            field = screen.query_one("#prime")
            before = rss_mb()
            t0 = time.perf_counter()
            field.post_message(events.Paste(prime))
            await pilot.press("end", "x")
            while not field.prime.endswith("x"):
                await pilot.pause(0.01)
            answered = time.perf_counter() - t0
            assert len(field.prime) == chars + 1
            t0 = time.perf_counter()
            await pilot.press("enter")
            while screen.generating or screen.panes[0].n_chars < 500:
                await pilot.pause(0.05)
            return {
                "before_mb": before,
                "peak_mb": peak_mb(),
                "answered_s": answered,
                "generated_s": time.perf_counter() - t0,
            }

    return asyncio.run(main())


def stock_input_child(chars: int) -> dict:
    """The baseline for the field: Textual's own Input (what the prime field was), a one-line paste of `chars`."""
    from textual import events
    from textual.app import App
    from textual.widgets import Input

    prime = " ".join(model_and_prime(2 * chars)[2].split())[:chars]  # one line: Input keeps only the first

    class One(App):
        def compose(self):
            yield Input(id="prime")

    async def main() -> dict:
        app = One()
        async with app.run_test(size=(120, 36)) as pilot:
            field = app.query_one(Input)
            field.focus()
            await pilot.pause()
            before = rss_mb()
            t0 = time.perf_counter()
            field.post_message(events.Paste(prime))
            await pilot.press("end", "x")
            while not field.value.endswith("x") and time.perf_counter() - t0 < 300:
                await pilot.pause(0.01)
            return {"before_mb": before, "peak_mb": peak_mb(), "answered_s": time.perf_counter() - t0}

    return asyncio.run(main())


def terminal_child(kind: str, out: str) -> None:
    """A bare app in a real terminal with one field (Textual's Input, or the prime field): every change
    of its prime is written to `out` as its length and last character, for the parent to time."""
    from pathlib import Path

    from textual.app import App
    from textual.widgets import Input

    from charrnn_tui.tui.widgets.prime_input import PrimeInput

    class One(App):
        def compose(self):
            yield (PrimeInput if kind == "prime" else Input)(id="prime")

        def on_input_changed(self, event: Input.Changed) -> None:
            prime = getattr(event.input, "prime", event.input.value)
            Path(out).write_text(f"{len(prime)} {prime[-1:]!r}")

    One().run()


def in_terminal(kind: str, chars: int, bracketed: bool = True, timeout: float = 120.0) -> dict:
    """`terminal_child` in a detached 120x36 tmux pane: a one-line paste of `chars` (tmux's bracketed
    paste, as a terminal sends it), then End and x; seconds until the field holds the x."""
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out, text = os.path.join(tmp, "out"), os.path.join(tmp, "paste")
        prime = " ".join(model_and_prime(2 * chars)[2].split())[:chars]
        with open(text, "w") as f:
            f.write(prime)
        name = f"charrnn-bench-prime-{os.getpid()}"
        tmux = ["tmux", "-L", name]
        cmd = f"{sys.executable} {__file__} --child terminal {kind} {out}"
        subprocess.run([*tmux, "new-session", "-d", "-s", name, "-x", "120", "-y", "36", cmd], check=True)
        pane = subprocess.run([*tmux, "display", "-p", "-t", name, "#{pane_pid}"], capture_output=True, text=True)
        pid = int(pane.stdout.strip())  # the app itself (tmux runs a lone command without a shell)
        try:
            time.sleep(3)  # the app up
            subprocess.run([*tmux, "load-buffer", text], check=True)
            t0 = time.perf_counter()
            subprocess.run([*tmux, "paste-buffer", *(["-p"] if bracketed else []), "-t", name], check=True)
            subprocess.run([*tmux, "send-keys", "-t", name, "End", "x"], check=True)
            want = f"{chars + 1} 'x'"
            while time.perf_counter() - t0 < timeout:
                if os.path.exists(out) and open(out).read() == want:
                    return {"answered_s": time.perf_counter() - t0}
                time.sleep(0.02)
            return {"error": f"the field did not hold the key within {timeout:.0f} s"}
        finally:
            subprocess.run([*tmux, "kill-server"], capture_output=True)
            gone(pid)


def gone(pid: int, wait: float = 5.0) -> None:
    """Until process `pid` has ended: SIGHUP from tmux first, SIGKILL after `wait` seconds."""
    import os
    import signal

    t0 = time.monotonic()
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        if time.monotonic() - t0 > wait:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, timeout=900)
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def line(name: str, r: dict) -> str:
    if "error" in r:
        return f"{name:<40} failed: {r['error']}"
    added = max(0.0, r["peak_mb"] - r["before_mb"])
    extra = "   ".join(f"{k[:-2]} {v:.2f} s" for k, v in r.items() if k.endswith("_s"))
    return f"{name:<40} RSS {r['before_mb']:7.0f} MB -> peak {r['peak_mb']:7.0f} MB (+{added:5.0f} MB)   {extra}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chars", type=int, default=1_000_000)
    ap.add_argument("--one-pass-chars", type=int, default=100_000, help="the one-pass baseline's prime length")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child and args.child[0] == "terminal":
        terminal_child(args.child[1], args.child[2])
        return
    if args.child:
        kind, chars = args.child[0], int(args.child[1])
        if kind == "input":
            out = stock_input_child(chars)
        else:
            out = app_child(chars) if kind == "app" else engine_child(chars, one_pass=kind == "one-pass")
        print(json.dumps(out))
        return
    n, m = args.chars, args.one_pass_chars
    print(line(f"engine, one pass, {m:,} chars", child("one-pass", str(m))))
    print(line(f"engine, feed, {m:,} chars", child("feed", str(m))))
    print(line(f"engine, one pass, {n:,} chars", child("one-pass", str(n))))
    print(line(f"engine, feed, {n:,} chars", child("feed", str(n))))
    for bracketed in (True, False):  # without: the characters arrive as keys, as a terminal without it sends them
        for kind, name in (("input", "Textual's Input"), ("prime", "the prime field")):
            r = in_terminal(kind, 30_000, bracketed)
            said = r.get("error") or f"answered {r['answered_s']:.2f} s"
            how = "bracketed paste" if bracketed else "as keys"
            print(f"{f'in tmux, {name}, 30,000 chars {how}':<52} {said}")
    print(line("Textual's Input, paste 30,000 chars", child("input", "30000")))
    print(line("app, paste 30,000 chars", child("app", "30000")))
    print(line("app, paste + generate, 1,000 chars", child("app", "1000")))  # the app's own cost, for comparison
    print(line(f"app, paste + generate, {n:,} chars", child("app", str(n))))


if __name__ == "__main__":
    main()
