"""The headless front end: `--train-only`, `--generate-only`, `--list-corpora` and `--baseline`, plain text out
(for scripts and servers; no Textual)."""
