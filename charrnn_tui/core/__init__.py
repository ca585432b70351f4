"""The torch-free base every layer stands on: errors, settings and presets, events, requests, control, paths."""
