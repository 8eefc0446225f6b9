"""The one user-facing error type: what was not understood, with suggestions and examples."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence


class UserError(Exception):
    """A problem with what the user asked or supplied; shown to them as is, never a crash."""

    def __init__(self, message: str, suggestions: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.suggestions = tuple(suggestions)

    def __str__(self) -> str:
        return self.message


def did_you_mean(word: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    """Close matches of `word` among `candidates`, case-insensitively, best first."""
    by_lower = {c.lower(): c for c in candidates}
    matches = difflib.get_close_matches(word.lower(), list(by_lower), n=limit, cutoff=0.6)
    return [by_lower[m] for m in matches]
