"""The ``[task]`` table shared by the dataset-driven kinds (``rate``, ``zeroorder``)."""

from __future__ import annotations

from collections.abc import Sequence

from spikesim.errors import ConfigError, ValidationError
from spikesim.experiments.config import Field

__all__ = ["task_table", "load_task"]


def _non_negative(v) -> str | None:
    return None if v >= 0 else "must be >= 0"


def _known_dataset(v: str) -> str | None:
    from spikesim import data

    names = data.available()
    return None if v in names else f"is not one of {', '.join(map(repr, names))}"


def task_table(default_dataset: str | None = None) -> dict[str, Field]:
    """Schema of ``[task]``; ``dataset`` is required unless a default is given."""
    dataset = (
        Field(str, check=_known_dataset, doc="dataset name (spikesim.data.available())")
        if default_dataset is None
        else Field(
            str,
            default_dataset,
            check=_known_dataset,
            doc="dataset name (spikesim.data.available())",
        )
    )
    return {
        "dataset": dataset,
        "n_train": Field(int, 0, check=_non_negative, doc="first n training examples (0: all)"),
        "n_test": Field(int, 0, check=_non_negative, doc="first n test examples (0: all)"),
        "n_per_class": Field(
            int,
            0,
            check=_non_negative,
            doc="first n training examples of every class, before n_train (0: all)",
        ),
        "path": Field(str, "", doc="directory of the dataset's files (default: standard places)"),
        "test_fraction": Field(
            float,
            0.2,
            check=lambda v: None if 0 < v < 1 else "must be in (0, 1)",
            doc="held-out fraction for datasets without a fixed test set",
        ),
    }


def load_task(
    task: dict, *, seed: int, sizes: Sequence[int], sizes_key: str, reconstruct: bool = False
):
    """Load the dataset of a resolved ``[task]`` table and check the layer sizes fit it.

    Parameters
    ----------
    task : dict
        The resolved ``[task]`` table (see :func:`task_table`).
    seed : int
        The run's seed (train/test split of datasets without a fixed one).
    sizes : sequence of int
        Layer widths of the model, input first.
    sizes_key : str
        Where the sizes come from, for error messages (e.g. ``"learner.sizes"``).
    reconstruct : bool
        The model reproduces its input (an autoencoder): the last size must be the number
        of features, not of classes.

    Returns
    -------
    spikesim.data.Dataset
    """
    from spikesim import data

    try:
        ds = data.load(
            task["dataset"],
            path=task["path"] or None,
            seed=seed,
            test_fraction=task["test_fraction"],
            n_train=task["n_train"] or None,
            n_test=task["n_test"] or None,
            n_per_class=task["n_per_class"] or None,
        )
    except ValidationError as exc:
        raise ConfigError(f"task: {exc}") from None
    sizes = list(sizes)
    if reconstruct:
        if sizes[0] != ds.n_features or sizes[-1] != ds.n_features:
            raise ConfigError(
                f"{sizes_key} = {sizes} does not fit {task['dataset']!r} as an autoencoder: the "
                f"first and the last size must both be {ds.n_features} (inputs)"
            )
        return ds
    if sizes[0] != ds.n_features or sizes[-1] != ds.n_classes:
        raise ConfigError(
            f"{sizes_key} = {sizes} does not fit {task['dataset']!r}: the first size must be "
            f"{ds.n_features} (inputs) and the last {ds.n_classes} (classes)"
        )
    return ds
