"""Opt-out handling: recognising STOP replies."""
