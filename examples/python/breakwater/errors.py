"""The exceptions: a WIT error becomes a Python exception."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence

class BreakwaterError(Exception):
    """Base class of every error this module raises."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a configuration."""

    path: str
    """JSON path of the offending value, e.g. ``policies[1].breaker.failure_rate_threshold``."""
    reason: str
    """Why it is wrong, e.g. ``must be in (0, 1], got 1.5``."""


class ConfigError(BreakwaterError):
    """A configuration the component refused (the WIT ``config-error``): every problem at once."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems: List[Problem] = list(problems)
        super().__init__("; ".join(f"{p.path or '<document>'}: {p.reason}" for p in self.problems))


class ComponentTrap(BreakwaterError):
    """The component trapped (a bug, or a handle used after ``close``); the object is dead."""
