"""Textual terminal UI. Nothing outside ``tui/`` may import this package."""
