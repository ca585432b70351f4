"""The corpus and its characters: loading texts, the built-in plays, the vocabulary."""
