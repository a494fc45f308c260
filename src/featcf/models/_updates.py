"""A live shop: new interactions, customers and products without a refit (``partial_fit``).

:class:`UpdateMixin` is one of the parts :class:`~featcf.models.base.BaseRecommender` is
made of. ``partial_fit`` grows the fitted Dataset (:func:`featcf.data._growth.grow`: old
positions stay, new customers and products are appended, repeated pairs are combined as
``Dataset.from_frames`` combines them) and calls the model's hook

``_partial_fit(old_dataset, new_dataset, touched_users, touched_items)``
    Update the fitted state for ``new_dataset`` (already ``self.dataset_``): ``touched_*``
    are the sorted positions of the users and items whose stored interactions changed;
    users and items past the old Dataset's sizes are new. The hook computes everything
    first and assigns at the end, so a failing update leaves the model as it was.

What each model refreshes is documented in its docstring ("partial_fit updates"). The
learned parts stay until the next ``fit``; :attr:`update_stats_` counts what the updates
added since, and :meth:`needs_refit` says when that warrants a full fit (the refresh
policy, see ``REFIT_THRESHOLD`` (0.1)).

The module also holds the two small sparse helpers the kNN hooks share:
:func:`replace_rows` and :func:`without_self`.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from featcf._schema import Json, Spec
from featcf._validation import check_real
from featcf.data._growth import Growth, grow
from featcf.data.dataset import Dataset
from featcf.exceptions import StaleModelWarning

__all__ = ["REFIT_THRESHOLD", "UpdateMixin", "UpdateStats", "replace_rows", "without_self"]

#: default of :meth:`UpdateMixin.needs_refit`: refit once a tenth of the data is new
#: (interactions added or combined since the fit, or customers, or products)
REFIT_THRESHOLD = 0.1

#: the name of the update counts in a model file (present once a model had an update)
STATE_NAME = "update_stats_"


@dataclass(frozen=True)
class UpdateStats:
    """What ``partial_fit`` added to a model since its last ``fit`` (or load of a fit).

    Attributes
    ----------
    n_updates : int
        Calls of ``partial_fit`` since the fit.
    users_at_fit, items_at_fit, interactions_at_fit : int
        Sizes of the Dataset before the first update.
    users_added, items_added : int
        Customers and products registered by the updates.
    interactions_added : int
        Stored (user, item) pairs the updates added.
    interactions_combined : int
        Stored pairs the updates combined with new rows (a repeat purchase, a new rating).
    """

    n_updates: int = 0
    users_at_fit: int = 0
    items_at_fit: int = 0
    interactions_at_fit: int = 0
    users_added: int = 0
    items_added: int = 0
    interactions_added: int = 0
    interactions_combined: int = 0

    @classmethod
    def baseline(cls, dataset: Dataset) -> UpdateStats:
        """No update yet, on a model fitted on ``dataset``."""
        return cls(0, dataset.n_users, dataset.n_items, dataset.n_interactions)

    def after(self, growth: Growth) -> UpdateStats:
        """These counts plus one update."""
        return replace(
            self,
            n_updates=self.n_updates + 1,
            users_added=self.users_added + growth.n_new_users,
            items_added=self.items_added + growth.n_new_items,
            interactions_added=self.interactions_added + growth.n_added,
            interactions_combined=self.interactions_combined + growth.n_combined,
        )

    @property
    def interaction_share(self) -> float:
        """Interactions added or combined since the fit, per interaction at the fit."""
        changed = self.interactions_added + self.interactions_combined
        return changed / max(self.interactions_at_fit, 1)

    @property
    def new_user_share(self) -> float:
        """Share of today's customers registered since the fit."""
        return self.users_added / max(self.users_at_fit + self.users_added, 1)

    @property
    def new_item_share(self) -> float:
        """Share of today's products registered since the fit."""
        return self.items_added / max(self.items_at_fit + self.items_added, 1)

    @property
    def drift(self) -> float:
        """The largest of the three shares: what :meth:`UpdateMixin.needs_refit` compares."""
        return max(self.interaction_share, self.new_user_share, self.new_item_share)

    def to_frame(self) -> pd.DataFrame:
        """The counts and shares as a one-row DataFrame (for logs and dashboards)."""
        shares = {
            "interaction_share": self.interaction_share,
            "new_user_share": self.new_user_share,
            "new_item_share": self.new_item_share,
            "drift": self.drift,
        }
        return pd.DataFrame([{**asdict(self), **shares}])


def _checked_stats(value: Any) -> UpdateStats:
    """The update counts of a model file (a JSON object of non-negative integers)."""
    names = [f.name for f in fields(UpdateStats)]
    if not isinstance(value, dict) or sorted(value) != sorted(names):
        raise ValueError(f"must be an object with exactly the keys {names}, got {value!r:.80}")
    for name in names:
        number = value[name]
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise ValueError(f"[{name!r}] must be an integer >= 0, got {number!r:.40}")
    return UpdateStats(**value)


def _refuse_withdrawn(old: Dataset, touched_items: np.ndarray, withdrawn: np.ndarray) -> None:
    """Refuse a batch whose interactions name withdrawn products (the model would learn
    from sales of products it may not offer)."""
    if len(withdrawn) == 0:
        return
    hit = np.intersect1d(np.asarray(touched_items, dtype=np.int64), withdrawn)
    if hit.size:
        raise ValueError(
            f"interactions name {hit.size} withdrawn product(s) "
            f"({old.item_ids[hit[:5]].tolist()}); reinstate them first "
            f"(model.reinstate(item_ids)) or leave their rows out"
        )


class UpdateMixin:
    """``partial_fit``, ``update_stats_`` and ``needs_refit`` on top of ``_partial_fit``."""

    #: positions of the withdrawn products (set by ``fit`` and ``load``)
    withdrawn_idx_: np.ndarray

    def partial_fit(
        self,
        interactions: pd.DataFrame,
        user_features: pd.DataFrame | None = None,
        item_features: pd.DataFrame | None = None,
    ) -> Any:
        """Add new interactions, customers and products to the fitted model, without a refit.

        The batch is appended to the fitted Dataset (``dataset_``): customers not in it are
        registered (they become known to :meth:`recommend`, :meth:`predict`,
        :meth:`explain`, :meth:`recommend_users` and the model file), products need their
        features in ``item_features``. A (user, item) pair already stored is combined with
        its new rows by the Dataset's ``duplicates`` policy, as ``Dataset.from_frames``
        would combine the rows of both (``"sum"`` adds a repeat purchase; ``"mean"`` and
        ``"error"`` refuse pairs already stored). Timestamps are carried when the Dataset
        has them. What the model refreshes is listed in its docstring ("partial_fit
        updates"); learned weights stay until the next :meth:`fit`.

        Parameters
        ----------
        interactions : pandas.DataFrame
            New interactions with the Dataset's user and item columns (and its weight and
            timestamp columns when it has them). May be empty when only features are given.
        user_features : pandas.DataFrame, optional
            One row per NEW customer: the user id column and every user field. Customers in
            it without interactions are registered by their features only.
        item_features : pandas.DataFrame, optional
            One row per NEW product: the item id column and every item field.

        Returns
        -------
        self

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        UnknownIdError
            Interactions with products neither in the catalogue nor in ``item_features``.
        ValueError
            Interactions with withdrawn products (:meth:`reinstate` them first).
        ValueError, TypeError
            Frames that do not match the Dataset (columns, id kinds, weights, feature rows
            of ids already known), as :meth:`Dataset.from_frames` refuses them.

        Warns
        -----
        StaleModelWarning
            When this update takes :attr:`update_stats_` past ``REFIT_THRESHOLD`` (0.1)
            (see :meth:`needs_refit`).

        Notes
        -----
        ``partial_fit`` changes the model: do not run it while other threads query the same
        model (query a copy, or swap models when the update is done).

        Examples
        --------
        >>> import warnings
        >>> import pandas as pd
        >>> from featcf.datasets import make_insurance_shop
        >>> from featcf.models import ItemKNN
        >>> shop = make_insurance_shop(n_customers=200, random_state=0)
        >>> model = ItemKNN(n_neighbors=20).fit(shop)
        >>> sales = pd.DataFrame({"user_id": ["web-1", "web-1"], "item_id": ["P-104", "P-115"],
        ...                       "n_policies": 1.0, "timestamp": pd.Timestamp("2024-06-01")})
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")  # web-1 has no user_features row
        ...     recs = model.partial_fit(sales).recommend("web-1", n=2)
        >>> recs["rank"].tolist()
        [1, 2]
        >>> model.update_stats_.users_added, model.needs_refit()
        (1, False)
        """
        old = self._fitted_dataset()
        growth = grow(old, interactions, user_features, item_features)
        _refuse_withdrawn(old, growth.touched_items, self.withdrawn_idx_)
        before = self.update_stats_
        self.dataset_ = growth.dataset
        try:
            self._partial_fit(old, growth.dataset, growth.touched_users, growth.touched_items)
        except BaseException:
            self.dataset_ = old
            raise
        stats = before.after(growth)
        self._update_stats = stats
        if before.drift < REFIT_THRESHOLD <= stats.drift:
            warnings.warn(
                f"{type(self).__name__}: the updates since the fit changed "
                f"{stats.interaction_share:.0%} of the interactions and registered "
                f"{stats.new_user_share:.0%} of the customers and {stats.new_item_share:.0%} "
                f"of the products; the learned parts are stale: fit the model again on "
                f"model.dataset_ (see needs_refit)",
                StaleModelWarning,
                stacklevel=2,
            )
        return self

    def _partial_fit(
        self,
        old_dataset: Dataset,
        new_dataset: Dataset,
        touched_users: np.ndarray,
        touched_items: np.ndarray,
    ) -> None:
        raise NotImplementedError

    @property
    def update_stats_(self) -> UpdateStats:
        """What :meth:`partial_fit` added since the last :meth:`fit` (an ``UpdateStats``: counts, shares and ``drift``)."""
        stats = self.__dict__.get("_update_stats")
        return UpdateStats.baseline(self._fitted_dataset()) if stats is None else stats

    def needs_refit(self, threshold: float = REFIT_THRESHOLD) -> bool:
        """Whether the updates since the fit warrant a full :meth:`fit`.

        True when ``update_stats_.drift`` (the largest of the shares of interactions added
        or combined, of customers registered and of products registered since the fit)
        reaches ``threshold``. The default, 0.1, is a rule of thumb: the refreshed parts
        (histories, profiles, popularity, the touched neighbour lists) are exact, but the
        learned ones (weights, factors, item-kNN rows of untouched items, FeatureCF's
        global profile and item similarity) describe the data as it was, and by a tenth of
        new data they visibly lag a refit.

        Parameters
        ----------
        threshold : float, default 0.1
            In (0, 1]: the drift at which to refit.

        Returns
        -------
        bool
        """
        threshold = check_real(threshold, "threshold", low=0, high=1, low_open=True)
        return self.update_stats_.drift >= threshold

    # ------------------------------------------------------------------ model files
    def _updates_state(self) -> dict[str, Any]:
        """The update counts to save (nothing for a model without updates since its fit)."""
        stats = self.__dict__.get("_update_stats")
        return {} if stats is None else {STATE_NAME: asdict(stats)}

    @staticmethod
    def _updates_schema(saved: Any) -> dict[str, Spec]:
        """The spec of the update counts, when the file's state (``saved``) holds them."""
        return {STATE_NAME: Json(_checked_stats)} if STATE_NAME in saved else {}

    def _set_updates_state(self, state: dict[str, Any]) -> None:
        """Restore the update counts of a model file (none: a model fresh from its fit)."""
        self.__dict__.pop("_update_stats", None)
        if STATE_NAME in state:
            self._update_stats = state[STATE_NAME]


# ---------------------------------------------------------------------- sparse helpers
def replace_rows(matrix: sp.csr_matrix, rows: np.ndarray, new_rows: sp.csr_matrix) -> sp.csr_matrix:
    """``matrix`` with its rows ``rows`` replaced by those of ``new_rows`` (order kept)."""
    n = matrix.shape[0]
    order = np.arange(n, dtype=np.int64)
    order[rows] = n + np.arange(len(rows), dtype=np.int64)
    stacked = sp.vstack([sp.csr_matrix(matrix), sp.csr_matrix(new_rows)], format="csr")
    return sp.csr_matrix(stacked[order], dtype=matrix.dtype)


def without_self(sims: sp.csr_matrix, self_cols: np.ndarray, k: int) -> sp.csr_matrix:
    """Rows of ``sims`` (best first) without the entry ``self_cols[r]`` of row ``r``, cut to
    ``k`` entries: a top-(k+1) search over a set that holds the row itself gives its top k
    among the others."""
    sims = sp.csr_matrix(sims)
    rows = np.repeat(np.arange(sims.shape[0]), np.diff(sims.indptr))
    keep = sims.indices != self_cols[rows]
    starts = np.searchsorted(rows[keep], np.arange(sims.shape[0]), side="left")
    rank = np.arange(int(keep.sum())) - starts[rows[keep]]
    data, indices, kept_rows = sims.data[keep], sims.indices[keep], rows[keep]
    cut = rank < k
    indptr = np.zeros(sims.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(kept_rows[cut], minlength=sims.shape[0]), out=indptr[1:])
    return sp.csr_matrix((data[cut], indices[cut], indptr), shape=sims.shape, dtype=sims.dtype)
