"""Fixed column names of the frames featcf returns."""

from __future__ import annotations

__all__ = ["Columns"]


class Columns:
    """Column names shared by every result frame.

    ``recommend`` and ``recommend_new_users`` return ``USER, ITEM, SCORE, RANK``;
    ``recommend_users`` returns ``ITEM, USER, SCORE, RANK``; ``explain`` returns
    ``PART, FIELD, VALUE, CONTRIBUTION, LABEL``; with ``reasons=True`` the recommendation
    frames add ``REASON``; ``recommend(..., on_unknown="popular")`` adds ``SOURCE``
    (``"model"`` or ``"popular"``); ``similar_items`` returns ``ITEM, SIMILAR_ITEM, SCORE,
    RANK`` and ``similar_users`` ``USER, SIMILAR_USER, SCORE, RANK``.
    """

    USER = "user_id"
    ITEM = "item_id"
    SCORE = "score"
    RANK = "rank"
    PART = "part"
    FIELD = "field"
    VALUE = "value"
    CONTRIBUTION = "contribution"
    LABEL = "label"
    REASON = "reason"
    SOURCE = "source"
    SIMILAR_ITEM = "similar_item_id"
    SIMILAR_USER = "similar_user_id"

    RECOMMENDATIONS = (USER, ITEM, SCORE, RANK)
    AUDIENCE = (ITEM, USER, SCORE, RANK)
    EXPLANATION = (PART, FIELD, VALUE, CONTRIBUTION, LABEL)
    SIMILAR_ITEMS = (ITEM, SIMILAR_ITEM, SCORE, RANK)
    SIMILAR_USERS = (USER, SIMILAR_USER, SCORE, RANK)
