"""Exceptions and warnings raised by featcf.

Every error names the argument or id at fault and says what was expected, so the user
can act on the message alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "UnsupportedProtocolError",
    "ColdStartWarning",
    "FeatureEncodingWarning",
    "StaleModelWarning",
    "ModelFormatError",
    "NotFittedError",
    "UnknownIdError",
]


class NotFittedError(ValueError, AttributeError):
    """Raised when a model is used before ``fit``.

    Subclasses both ``ValueError`` and ``AttributeError``, like scikit-learn's own
    ``NotFittedError``, so generic handlers of either keep working.
    """


def _preview(ids: Sequence[Any], limit: int = 5) -> str:
    shown = ", ".join(repr(i) for i in list(ids)[:limit])
    more = len(ids) - limit
    return shown + (f", ... ({more} more)" if more > 0 else "")


class UnknownIdError(KeyError, ValueError):
    """Raised when external ids are not known to a dataset or model.

    Parameters
    ----------
    kind : str
        What the ids are, e.g. ``"user"`` or ``"item"``.
    unknown : sequence
        The ids that were not found (all of them; the message shows the first few).
    argument : str, optional
        The name of the argument that carried them.

    Attributes
    ----------
    unknown_ids : list
        All unknown ids, in the order they were given.
    """

    def __init__(
        self,
        kind: str,
        unknown: Sequence[Any],
        argument: str | None = None,
        known_examples: Sequence[Any] = (),
    ) -> None:
        self.kind = kind
        self.unknown_ids = list(unknown)
        self.argument = argument
        where = f" in {argument}" if argument else ""
        hint = (
            f" Known {kind} ids look like: {_preview(list(known_examples), 3)}."
            if len(known_examples)
            else ""
        )
        self.message = (
            f"{len(self.unknown_ids)} unknown {kind} id(s){where}: {_preview(self.unknown_ids)}."
            f"{hint} Check the id type (10 and '10' are different ids); new {kind}s must be "
            f"registered first (see the cold-start methods of the model)."
        )
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.message


class ModelFormatError(ValueError):
    """Raised when a saved model file is corrupt, not a featcf file, or of another version."""


class FeatureEncodingWarning(UserWarning):
    """Warned when new rows hold feature values the encoder never saw (they encode as zeros)."""


class ColdStartWarning(UserWarning):
    """Warned when a query falls back to a weaker cold-start path (e.g. popularity)."""


class StaleModelWarning(UserWarning):
    """Warned when the updates since a fit (``partial_fit``) warrant a full ``fit`` again."""


class UnsupportedProtocolError(NotImplementedError):
    """Raised when a model cannot serve a kind of query (e.g. new items for ItemKNN).

    The message says which model can.
    """
