"""Networks and tasks for reward-modulated STDP experiments.

- :func:`ei_network`: a layered network in which every pre/post pair of consecutive layers
  has an excitatory *and* an inhibitory edge, so the effective connection
  ``w_plus - w_minus`` can take either sign while every weight stays positive (SH's weights
  are non-negative and signs are fixed per edge); optionally a first hidden layer of local
  receptive fields over an image (``receptive``).
- :func:`spike_pattern_task`: two classes of input rate patterns.
- :func:`teacher_rates`: target rates produced by a random spiking teacher network.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spikesim.data.base import Dataset
from spikesim.errors import ValidationError
from spikesim.graph import Network, layer_edges
from spikesim.receptive import ReceptiveField

__all__ = ["ei_network", "spike_pattern_task", "teacher_rates", "with_bias"]


def ei_network(
    sizes: Sequence[int],
    *,
    w_exc: float | Sequence[float],
    w_inh: float | Sequence[float],
    spread: float = 0.5,
    ei_pairs: bool = True,
    inhibitory_fraction: float | None = None,
    delay: float = 0.0,
    delay_inh: float | None = None,
    tau_syn: float = 0.01,
    threshold: float = 1.0,
    t_ref: float = 0.002,
    modules: int = 0,
    skip: tuple[float, float] | None = None,
    receptive: ReceptiveField | None = None,
    bias_inputs: int = 0,
    seed: int = 0,
) -> Network:
    """A layered network ``sizes[0] -> ... -> sizes[-1]`` with excitatory/inhibitory pairs.

    Parameters
    ----------
    sizes : sequence of int
        Layer sizes; the first layer are the inputs, the last the outputs.
    w_exc, w_inh : float or sequence of float
        Mean excitatory / inhibitory weight per layer transition (threshold units).
    spread : float
        Weights are uniform on ``mean * [1 - spread, 1 + spread]``.
    ei_pairs : bool
        True: every pair (i, j) has an excitatory and an inhibitory edge (edge ``2 q`` and
        ``2 q + 1`` of pair ``q``). False: one edge per pair, excitatory with probability
        ``w_exc / (w_exc + w_inh)`` (or ``1 - inhibitory_fraction``), weight mean
        ``w_exc`` or ``w_inh``: fixed random signs, as in the signed-weight MLP of the
        zero-order theory (``w = sign * exp(theta)``).
    inhibitory_fraction : float, optional
        ``ei_pairs = False`` only: probability in [0, 1] that an edge is inhibitory
        (default: ``w_inh / (w_exc + w_inh)``).
    delay : float
        Synaptic delay of every (excitatory) edge, seconds.
    delay_inh : float, optional
        Delay of the inhibitory edges, seconds (default: ``delay``). With E/I pairs and the
        same delay both edges of a pair see the same arrivals, get identical eligibilities
        and are scaled by the same factor, so the pair's ratio ``w_plus / w_minus`` (its
        effective sign) can never change; a different inhibitory delay decouples them.
    tau_syn, threshold, t_ref : float
        Seconds, threshold units, seconds.
    modules : int
        0 (default): every transition fully connected. ``M > 0``: every layer after the
        inputs is split into ``M`` consecutive equal pools (pool ``m`` of a layer of size
        ``n``: its neurons ``m n / M .. (m + 1) n / M - 1``) and between two such layers
        only neurons of the same pool are connected; the inputs still reach every neuron of
        the first layer. With ``M`` the number of classes and the output layer's
        ``population`` outputs per class, pool ``m`` of every layer belongs to class ``m``:
        the network is ``M`` subnetworks that share only their inputs (and the trainer's
        split loss trains each on its own class's loss term). The pairs kept have the same
        weights as in the fully connected network of the same seed.
    skip : (float, float), optional
        ``(w_exc, w_inh)``: also connect every input to every output (skip edges past the
        hidden layers, E/I pairs or fixed signs as the other transitions, the same delays),
        with these mean weights. The skip edges come after all layer transitions in the
        edge order and draw their random numbers after them, so the edges of the layered
        part equal those of the network without skip edges. A network with ``sizes`` of
        two layers refuses ``skip`` (it would duplicate its only transition). With
        ``modules`` the inputs reach every output, as they reach every first-layer
        neuron.
    receptive : ReceptiveField, optional
        The first hidden layer as local receptive fields
        (:func:`spikesim.receptive.receptive_field`): the inputs are an image of ``(h, w,
        c_in)`` pixels flattened channels-last, the layer (``sizes[1] = h * w * channels``
        neurons, channels-last) has a pair (or a fixed-sign edge) from input ``p`` to
        neuron ``q`` only where the size-keeping ``kh x kw`` convolution connects them
        (:func:`spikesim.receptive.conv_edges`), with the first transition's weights
        ``w_exc[0]``, ``w_inh[0]``; the ``bias_inputs`` inputs after the image reach every
        neuron of the layer. The later transitions stay as without it (dense, or pooled by
        ``modules``: the pools of the receptive layer are blocks of consecutive neurons,
        i.e. of image rows), and ``skip`` still connects every input to every output. The
        first transition's random numbers are drawn for its kept pairs only.
    bias_inputs : int
        With ``receptive`` only: the last ``bias_inputs`` of the ``sizes[0]`` inputs are
        not pixels (``sizes[0]`` must be ``h * w * c_in + bias_inputs``).
    seed : int

    Returns
    -------
    Network
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValidationError(f"sizes must list at least two positive layer sizes, got {sizes}")
    if not 0.0 <= spread < 1.0:
        raise ValidationError(f"spread must be in [0, 1), got {spread!r}")
    n_t = len(sizes) - 1
    we = np.broadcast_to(np.asarray(w_exc, float), (n_t,))
    wi = np.broadcast_to(np.asarray(w_inh, float), (n_t,))
    if np.any(we < 0) or np.any(wi < 0):
        raise ValidationError("w_exc and w_inh must be non-negative")
    if inhibitory_fraction is not None and not 0.0 <= inhibitory_fraction <= 1.0:
        raise ValidationError(f"inhibitory_fraction must be in [0, 1], got {inhibitory_fraction!r}")
    d_inh = float(delay if delay_inh is None else delay_inh)
    if not np.isfinite(d_inh) or d_inh < 0:
        raise ValidationError(f"delay_inh must be a non-negative number, got {delay_inh!r}")
    modules = int(modules)
    if modules < 0:
        raise ValidationError(f"modules must be >= 0, got {modules}")
    if modules and any(n % modules for n in sizes[1:]):
        raise ValidationError(
            f"modules = {modules}: every layer after the inputs must split into {modules} "
            f"equal pools, got sizes {sizes}"
        )
    if skip is not None:
        if len(sizes) < 3:
            raise ValidationError(
                f"skip = {tuple(skip)} needs a hidden layer to skip, got sizes {sizes}"
            )
        if len(skip) != 2 or min(skip) < 0 or not np.all(np.isfinite(skip)):
            raise ValidationError(
                f"skip must be two non-negative mean weights (w_exc, w_inh), got {skip!r}"
            )
    bias_inputs = int(bias_inputs)
    if receptive is None and bias_inputs:
        raise ValidationError(
            f"bias_inputs = {bias_inputs} only applies with receptive (a layer of local "
            "receptive fields); without it every input reaches every first-layer neuron"
        )
    if receptive is not None:
        _check_receptive(receptive, sizes, bias_inputs)
    rng = np.random.default_rng(seed)
    off, layers, transitions = layer_edges(sizes)
    if receptive is not None:
        pp, qq = receptive.edges()
        bias = np.arange(receptive.n_inputs, sizes[0])
        hidden = np.arange(sizes[1])
        pp = np.concatenate([pp, np.tile(bias, hidden.size)])
        qq = np.concatenate([qq, np.repeat(hidden, bias.size)])
        order = np.lexsort((pp, qq))  # post-major, inputs ascending
        transitions[0] = (off[0] + pp[order], off[1] + qq[order])
    we_t, wi_t = list(we), list(wi)
    if skip is not None:
        a, b = layers[0], layers[-1]
        transitions.append((np.tile(a, b.size), np.repeat(b, a.size)))
        we_t.append(float(skip[0]))
        wi_t.append(float(skip[1]))
    we, wi = np.asarray(we_t), np.asarray(wi_t)
    pres, posts, ws, ss = [], [], [], []
    for k, (pp, qq) in enumerate(transitions):
        u = rng.uniform(1 - spread, 1 + spread, (pp.size, 2))
        if modules and 0 < k < n_t:
            pool_p = (pp - off[k]) * modules // sizes[k]
            pool_q = (qq - off[k + 1]) * modules // sizes[k + 1]
            keep = pool_p == pool_q
            pp, qq, u = pp[keep], qq[keep], u[keep]
        if ei_pairs:
            pres.append(np.repeat(pp, 2))
            posts.append(np.repeat(qq, 2))
            ws.append(np.stack([we[k] * u[:, 0], wi[k] * u[:, 1]], axis=1).ravel())
            ss.append(np.tile([1, -1], pp.size))
        else:
            p_exc = (
                we[k] / max(we[k] + wi[k], 1e-300)
                if inhibitory_fraction is None
                else 1.0 - inhibitory_fraction
            )
            exc = rng.random(pp.size) < p_exc
            pres.append(pp)
            posts.append(qq)
            ws.append(np.where(exc, we[k], wi[k]) * u[:, 0])
            ss.append(np.where(exc, 1, -1))
    sign = np.concatenate(ss)
    return Network(
        n_neurons=int(off[-1]),
        pre=np.concatenate(pres),
        post=np.concatenate(posts),
        weight=np.concatenate(ws),
        delay=np.where(sign < 0, d_inh, float(delay)),
        sign=sign,
        inputs=layers[0],
        outputs=layers[-1],
        tau_syn=tau_syn,
        threshold=threshold,
        t_ref=t_ref,
        layers=layers,
    )


def _check_receptive(receptive, sizes: list[int], bias_inputs: int) -> None:
    if not isinstance(receptive, ReceptiveField):
        raise ValidationError(
            f"receptive must be a ReceptiveField (spikesim.receptive.receptive_field), got "
            f"{type(receptive).__name__}"
        )
    h, w, c = receptive.image
    if len(sizes) < 3:
        raise ValidationError(
            f"receptive: local receptive fields need a hidden layer, got sizes {sizes}"
        )
    if bias_inputs < 0 or sizes[0] != receptive.n_inputs + bias_inputs:
        raise ValidationError(
            f"receptive: the {h}x{w}x{c} image has {receptive.n_inputs} pixels, but there are "
            f"sizes[0] = {sizes[0]} inputs with bias_inputs = {bias_inputs} (need "
            f"{receptive.n_inputs} + bias_inputs)"
        )
    if sizes[1] != receptive.n_outputs:
        raise ValidationError(
            f"receptive: {receptive.channels} channels over the {h}x{w} image make "
            f"{receptive.n_outputs} neurons, but sizes[1] = {sizes[1]}"
        )


def with_bias(x: np.ndarray, n_bias: int, level: float = 1.0) -> np.ndarray:
    """Append ``n_bias`` constant columns ``level`` (bias inputs) to ``x`` (n, d)."""
    x = np.asarray(x, dtype=np.float64)
    if n_bias <= 0:
        return x
    return np.hstack([x, np.full((x.shape[0], n_bias), float(level))])


def spike_pattern_task(
    *,
    n_inputs: int = 20,
    n_train: int = 400,
    n_test: int = 200,
    flip: float = 0.1,
    low: float = 0.1,
    seed: int = 0,
) -> Dataset:
    """Two classes of spike patterns: class ``k`` has a random binary prototype over the
    inputs (active inputs intensity 1, silent ones ``low``); each example flips every bit
    of its prototype with probability ``flip``. Trials draw Poisson spikes from it."""
    if not 0.0 <= flip < 0.5:
        raise ValidationError(f"flip must be in [0, 0.5), got {flip!r}")
    rng = np.random.default_rng(seed)
    protos = rng.random((2, n_inputs)) < 0.5
    while np.array_equal(protos[0], protos[1]):
        protos[1] = rng.random(n_inputs) < 0.5
    n = n_train + n_test
    y = rng.integers(0, 2, n)
    bits = protos[y] ^ (rng.random((n, n_inputs)) < flip)
    x = np.where(bits, 1.0, float(low))
    return Dataset("spike-pattern", x[:n_train], y[:n_train], x[n_train:], y[n_train:], 2)


def teacher_rates(
    teacher: Network,
    x: np.ndarray,
    *,
    duration: float,
    max_rate: float,
    repeats: int = 20,
    seed: int = 0,
) -> np.ndarray:
    """Mean output rates (hertz) of ``teacher`` on each row of ``x``, over ``repeats``
    Poisson trials; shape (n_samples, n_outputs)."""
    from spikesim.encoding import poisson_draw
    from spikesim.engines.event import simulate_many
    from spikesim.record import check_input_spikes

    x = np.asarray(x, dtype=np.float64)
    rng = np.random.default_rng(seed)
    n_in = teacher.inputs.size
    jobs = []
    for row in np.repeat(x, repeats, axis=0):
        counts, t = poisson_draw(row * max_rate * duration, duration, rng)
        nrn = np.repeat(teacher.inputs[:n_in], counts)
        jobs.append(check_input_spikes(teacher, (t, nrn), duration))
    outs = simulate_many(teacher, teacher.weight, jobs, duration, n_threads=1)
    counts = np.array([c[teacher.outputs] for _, c, _ in outs], dtype=np.float64)
    return counts.reshape(x.shape[0], repeats, -1).mean(axis=1) / duration
