"""How alike the filters of untied (conv-sparse) layers stay across locations (Amit 2019,
sec. 4.1 and Fig. 6), for a finished ``rate`` run: ``spikesim filters RUN_DIR``.

For every untied layer (``uconv`` in ``learner.architecture``) of the run's checkpoint:
:func:`spikesim.rate._conv.filter_similarity` (per output channel, the mean cosine
similarity of the ``kh * kw * c_in`` weights of every pair of interior locations, averaged
over channels; 1: identical filters as in a tied convolution, about 0: independent draws)
of the trained weights, of the same learner's initial weights (1 with the tied start of
``tied_steps > 0``; about 0 with an independent start), and of an independent random draw
of the same shape (the chance level), and of the change ``W - W(0)`` (whether the
independent updates at different locations learned alike filters). The figure shows a
few channels' filters at four locations, as Fig. 6.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spikesim.errors import ConfigError

__all__ = ["filter_report", "plot_filters", "untied_layers"]


def _learner(config: dict):
    from spikesim import rate

    params = {k: v for k, v in config["learner"].items() if k != "name"}
    return rate.make(config["learner"]["name"], seed=config["experiment"]["seed"], **params)


def untied_layers(learner) -> list[tuple[int, object]]:
    """``(k, layer)`` for the untied layers of an initialised feedforward learner
    (``W{k}`` holds the layer's weights)."""
    from spikesim.rate import _conv

    if learner._plan is None:
        return []
    return [
        (k, layer)
        for k, layer in enumerate(_conv.weighted(learner._plan))
        if isinstance(layer, _conv.Conv) and layer.untied
    ]


def _load(run_dir: str | Path):
    from spikesim.experiments.runs import recorded_config
    from spikesim.experiments.train_rate import load_checkpoint

    run_dir = Path(run_dir)
    config = recorded_config(run_dir)
    if config is None or config.get("experiment", {}).get("kind") != "rate":
        raise ConfigError(f"{run_dir}: not the folder of a rate run (no run.json of kind rate)")
    cp = run_dir / "checkpoint.npz"
    if not cp.exists():
        raise ConfigError(f"{run_dir}: no checkpoint.npz")
    state, meta = load_checkpoint(cp)
    trained = _learner(config)
    trained.load_state_dict(state)
    initial = _learner(config).initialize()
    if not untied_layers(trained):
        raise ConfigError(
            f"{run_dir}: learner.architecture = {config['learner'].get('architecture', '')!r} "
            "has no untied (uconv) layer"
        )
    return config, trained, initial


def filter_report(run_dir: str | Path) -> dict:
    """The similarity numbers of every untied layer of the run in ``run_dir``.

    Returns
    -------
    dict
        ``{"run": ..., "learner": ..., "layers": [{"weights": "W0", "layer": ...,
        "trained": s, "initial": s, "independent": s, "change": s}, ...]}``.
    """
    from spikesim.rate import _conv

    config, trained, initial = _load(run_dir)
    rng = np.random.default_rng(12345)
    layers = []
    for k, layer in untied_layers(trained):
        g = layer.geometry
        rand = _conv.init_weight(rng, layer, np.float64, transpose=False, independent=True)
        layers.append(
            {
                "weights": f"W{k}",
                "layer": layer.label,
                "trained": _conv.filter_similarity(trained.W[k], g),
                "initial": _conv.filter_similarity(initial.W[k], g),
                "independent": _conv.filter_similarity(rand, g),
                # what learning added, W - W(0): are the updates alike across locations?
                "change": _conv.filter_similarity(trained.W[k] - initial.W[k], g),
            }
        )
    return {"run": str(run_dir), "learner": config["learner"]["name"], "layers": layers}


def plot_filters(run_dir: str | Path, path: str | Path, *, channels: int = 2) -> Path:
    """Fig. 6: the first untied layer's filters of ``channels`` output channels (rows) at
    four interior locations (columns), first input channel, one colour scale per row."""
    import matplotlib.pyplot as plt

    from spikesim.io import save_figure
    from spikesim.rate import _conv

    _, trained, _ = _load(run_dir)
    k, layer = untied_layers(trained)[0]
    g = layer.geometry
    inner = _conv.interior_locations(g)
    picks = inner[np.linspace(0, inner.size - 1, 4).round().astype(int)]
    w = trained.W[k].reshape(g.n_locations, g.kh, g.kw, g.c_in, g.c_out)
    channels = min(channels, g.c_out)
    fig, axes = plt.subplots(channels, 4, figsize=(6, 1.6 * channels), squeeze=False)
    for c in range(channels):
        lim = float(np.abs(w[picks, :, :, 0, c]).max()) or 1.0
        for col, loc in enumerate(picks):
            ax = axes[c, col]
            ax.imshow(w[loc, :, :, 0, c], cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_title(f"location {divmod(int(loc), g.w)}", fontsize=8)
        axes[c, 0].set_ylabel(f"channel {c}", fontsize=8)
    fig.suptitle(f"{layer.label}: filters at four locations", fontsize=9)
    return save_figure(fig, path)
