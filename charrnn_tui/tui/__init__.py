"""The Textual app. Nothing here is imported by the engine or the headless CLI."""
