"""Mapping between external ids (the caller's own) and internal positions 0..n-1."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from featcf.exceptions import UnknownIdError

__all__ = ["IdMap"]


def _is_scalar_id(ids: Any) -> bool:
    if isinstance(ids, (list, tuple, set, np.ndarray, pd.Index, pd.Series)):
        return False
    return np.ndim(ids) == 0


class IdMap:
    """Immutable map between external ids and internal positions.

    Parameters
    ----------
    ids : array-like
        Unique external ids (any hashable: ints, strings, ...). Position ``p`` holds the
        id of internal index ``p``.
    kind : str
        What the ids are (``"user"`` or ``"item"``), used in error messages.

    Examples
    --------
    >>> m = IdMap(["u1", "u2", "u3"], kind="user")
    >>> m.to_index(["u3", "u1"]).tolist()
    [2, 0]
    >>> m.to_ids([1]).tolist()
    ['u2']
    """

    __slots__ = ("_index", "kind")

    def __init__(self, ids: Iterable[Any], kind: str) -> None:
        index = pd.Index(list(ids) if not isinstance(ids, (np.ndarray, pd.Index)) else ids)
        if index.has_duplicates:
            dup = index[index.duplicated()].unique().tolist()
            raise ValueError(f"{kind} ids must be unique; duplicated: {dup[:5]}")
        self._index = index
        self.kind = kind

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, external_id: Any) -> bool:
        return external_id in self._index

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, IdMap)
            and self.kind == other.kind
            and bool(self._index.equals(other._index))
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def ids(self) -> np.ndarray:
        """External ids in internal order (a read-only numpy array)."""
        out = self._index.to_numpy()
        out = out.view() if out.dtype != object else out.copy()
        out.flags.writeable = False
        return out

    def to_index(
        self, ids: Any, *, strict: bool = True, argument: str | None = None
    ) -> np.ndarray | int:
        """Convert external ids to internal positions.

        Parameters
        ----------
        ids : scalar or array-like
            External ids. A scalar gives an ``int``, an array-like an ``int64`` array.
        strict : bool, default True
            If True, unknown ids raise :class:`~featcf.UnknownIdError`; if False they map to -1.
        argument : str, optional
            Name of the caller's argument, for the error message.

        Raises
        ------
        UnknownIdError
            If ``strict`` and some ids are unknown; the error lists them.
        """
        scalar = _is_scalar_id(ids)
        query = (
            [ids] if scalar else list(ids) if not isinstance(ids, (np.ndarray, pd.Index)) else ids
        )
        positions = self._index.get_indexer(pd.Index(query, dtype=object if scalar else None))
        positions = np.asarray(positions, dtype=np.int64)
        if strict and (positions < 0).any():
            missing = pd.Index(query)[positions < 0].unique().tolist()
            raise UnknownIdError(
                self.kind, missing, argument, known_examples=self._index[:3].tolist()
            )
        return int(positions[0]) if scalar else positions

    def to_ids(self, index: Any) -> np.ndarray:
        """Convert internal positions back to external ids."""
        return self._index.to_numpy()[np.asarray(index, dtype=np.int64)]

    def __repr__(self) -> str:
        return f"IdMap(kind={self.kind!r}, n={len(self)})"
