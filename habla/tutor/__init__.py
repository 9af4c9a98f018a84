"""The language tutor: personas, corrected and spoken turns, persisted sessions and their reports."""

from habla.tutor.personas import BUILTIN, LEVELS, Persona

__all__ = ["BUILTIN", "LEVELS", "Persona"]
