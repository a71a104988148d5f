"""Kind ``spiking``: train a spiking network with reward-modulated STDP (SH eq. 4.1).

Tables: ``[task]``, ``[network]``, ``[encoding]``, ``[loss]``, ``[rule]``, ``[train]``; every
key is listed in :data:`TABLES` (``[rule]``: :data:`RULE_COMMON` plus the parameters of the
rule ``rule.kind`` names, :func:`rule_table`) and in ``docs/guide/plasticity.md``. Trained by
the one
driver (:class:`SpikingStepper`: one step is one chunk of trials) under the run contract
(``docs/guide/file-formats.md``). Writes into the output directory: ``run.json``,
``results.json``, ``checkpoint.npz`` (at every evaluation), ``weights.npz`` (initial and
final weights, the sampled synapses' trajectories), ``network.npz`` (the trained network,
:func:`spikesim.io.load_network`), and unless ``train.plots = false``
``learning_curve.png``, ``weights.png`` (trajectories of sampled synapses),
``weight_hist.png`` (before/after), ``raster_before.png``, ``raster_after.png``
(``spikesim plot RUN`` redraws them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from spikesim.errors import ConfigError
from spikesim.experiments.config import Field, register_kind, validate_table
from spikesim.experiments.runs import TrainingKind
from spikesim.experiments.task import task_table
from spikesim.training import Schedule, Stepper, StepReport

__all__ = [
    "KIND",
    "NETWORK_FILE_KEYS",
    "TABLES",
    "SpikingStepper",
    "build",
    "network_from_file",
    "validate",
]


def _pos(v):
    return None if v > 0 else "must be positive"


def _nonneg(v):
    return None if v >= 0 else "must be >= 0"


def _weights(v):
    vals = v if isinstance(v, list) else [v]
    if not vals or not all(isinstance(x, int | float) and x >= 0 for x in vals):
        return "must be a non-negative number or a list of them (one per layer transition)"
    return None


_RECEPTIVE_KEYS = ("image", "kernel", "channels")


def _receptive(v):
    """``network.receptive``: {} (dense) or ``{image = [h, w, c], kernel = k or [kh, kw],
    channels = n}``, checked by :func:`spikesim.receptive.receptive_field`."""
    if v == {}:
        return None
    unknown = sorted(set(v) - set(_RECEPTIVE_KEYS))
    missing = [k for k in _RECEPTIVE_KEYS if k not in v]
    if unknown or missing:
        return (
            "must be {} (dense) or a table of image = [h, w, c], kernel = k (or [kh, kw]) "
            "and channels = n; " + (f"unknown {unknown}" if unknown else f"missing {missing}")
        )
    return _receptive_error(v)


def _receptive_error(v):
    from spikesim.errors import ValidationError
    from spikesim.receptive import receptive_field

    try:
        receptive_field(v["image"], v["kernel"], v["channels"])
    except ValidationError as exc:
        return str(exc).removeprefix("receptive field: ")
    return None


def receptive_spec(netc: Mapping):
    """The :class:`~spikesim.receptive.ReceptiveField` of a resolved ``[network]`` table,
    None if ``network.receptive`` is empty (dense)."""
    from spikesim.receptive import receptive_field

    r = netc["receptive"]
    return receptive_field(r["image"], r["kernel"], r["channels"]) if r else None


def _sizes(v):
    if len(v) < 2 or not all(isinstance(x, int) and x >= 1 for x in v):
        return "must list at least two positive integer layer sizes"
    return None


#: The ``[rule]`` keys of the trainer, shared by every rule (baselines, schedules,
#: Christensen-Kallsen presentations, the control); the other keys of the table are the
#: parameters of the rule that ``rule.kind`` names (:func:`rule_table`).
RULE_COMMON = {
    "kind": Field(str, "sh", doc="plasticity rule (spikesim.plasticity.available_rules())"),
    "learning_rate": Field(float, 0.02, check=_pos, doc="alpha of SH eq. 4.1"),
    "baseline": Field(
        str,
        "ema",
        choices=("previous", "ema", "per-sample", "same-sample", "leave-one-out", "sample-mean"),
        doc="L_bar (same-sample: CK eq. 3.1, needs presentations >= 2; leave-one-out: the "
        "mean of the sample's other presentations, needs train.batch a multiple of "
        "presentations; sample-mean: the mean of its earlier presentations)",
    ),
    "beta": Field(float, 0.05, doc="averaging weight of ema / per-sample baselines"),
    "schedule": Field(
        str, "constant", choices=("constant", "inverse", "step"), doc="alpha_k of eq. 4.1"
    ),
    "k0": Field(float, 1e5, check=_pos, doc="schedule scale, trials"),
    "gamma": Field(float, 0.5, check=_pos, doc="step schedule factor"),
    "presentations": Field(int, 1, check=_pos, doc="CK: presentations per sample"),
    "ck_noise_scaling": Field(str, "none", choices=("sqrt", "none"), doc="c / sqrt(n)"),
    "shuffle_reward": Field(bool, False, doc="control: losses shuffled across trials"),
    "frozen_layers": Field(
        list,
        [],
        check=lambda v: (
            None
            if all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in v)
            else "must list layer numbers >= 1 (1: the first layer after the inputs)"
        ),
        doc="layers whose incoming edges keep their initial weights (control of a trained "
        "hidden layer)",
    ),
}


def rule_fields(rule_class) -> dict[str, Field]:
    """The ``[rule]`` keys of a rule's parameters, from its dataclass fields (type, default
    or ``config_default``, and ``doc`` from the field metadata)."""
    out = {}
    for f in dataclasses.fields(rule_class):
        default = f.metadata.get("config_default", f.default)
        kind = (
            bool
            if isinstance(default, bool)
            else float
            if isinstance(default, float)
            else type(default)
        )
        out[f.name] = Field(kind, default, doc=f.metadata.get("doc", ""))
    return out


def rule_table(table, where: str = "rule") -> dict:
    """Validate a ``[rule]`` table: :data:`RULE_COMMON` plus the parameters of the rule that
    ``rule.kind`` names, so a registered rule needs no change here.

    Raises
    ------
    ConfigError
        An unknown rule (the registered ones are named), a key of neither (the known keys
        are listed), a wrong type or a value the rule refuses (naming ``rule.KEY``).
    """
    from spikesim.errors import ValidationError
    from spikesim.plasticity import available_rules, get_rule

    if not isinstance(table, Mapping):
        raise ConfigError(f"[{where}] must be a table, got {type(table).__name__}")
    name = table.get("kind", RULE_COMMON["kind"].default)
    if not isinstance(name, str) or name not in available_rules():
        raise ConfigError(
            f"{where}.kind = {name!r}: is not one of {', '.join(map(repr, available_rules()))}"
        )
    cls = get_rule(name)
    out = validate_table(table, {**RULE_COMMON, **rule_fields(cls)}, where)
    try:
        cls(**{k: out[k] for k in cls.keys()})
    except ValidationError as exc:
        raise ConfigError(str(exc)) from None
    return out


TABLES = {
    "task": {
        **task_table("spike-pattern"),  # dataset, n_train, n_test, path, test_fraction
        "dataset": Field(
            str,
            "spike-pattern",
            choices=(
                "spike-pattern",
                "teacher-student",
                "digits",
                "fashion-mnist",
                "mnist",
                "blobs",
            ),
            doc="the task",
        ),
        "n_inputs": Field(int, 20, check=_pos, doc="spike-pattern / teacher-student inputs"),
        "flip": Field(
            float,
            0.1,
            check=lambda v: None if 0 <= v <= 1 else "must be a probability, in [0, 1]",
            doc="spike-pattern: bit-flip probability per example",
        ),
        "low": Field(
            float,
            0.1,
            check=lambda v: None if 0 <= v <= 1 else "must be in [0, 1]",
            doc="spike-pattern: intensity of inactive inputs",
        ),
        "n_samples": Field(int, 600, check=_pos, doc="teacher-student: examples in all"),
        "teacher_repeats": Field(int, 20, check=_pos, doc="teacher-student: trials per target"),
        "teacher_w_scale": Field(float, 1.0, check=_pos, doc="teacher weights x this factor"),
    },
    "network": {
        "file": Field(
            str,
            "",
            doc="a saved network (.npz, e.g. a run's network.npz) to start from; see "
            "NETWORK_FILE_KEYS",
        ),
        "sizes": Field(list, [20, 2], check=_sizes, doc="layer sizes, data inputs first"),
        "bias_inputs": Field(int, 1, check=_nonneg, doc="extra always-on input neurons"),
        "ei_pairs": Field(bool, True, doc="an excitatory and an inhibitory edge per pair"),
        "w_exc": Field((float, list), 0.2, check=_weights, doc="mean excitatory weight"),
        "w_inh": Field((float, list), 0.1, check=_weights, doc="mean inhibitory weight"),
        "spread": Field(float, 0.5, doc="weights uniform on mean * [1 - spread, 1 + spread]"),
        "inhibitory_fraction": Field(
            float,
            -1.0,
            doc="ei_pairs = false: P(edge inhibitory), in [0, 1] (-1: w_inh/(w_exc+w_inh))",
        ),
        "population": Field(int, 1, check=_pos, doc="output neurons per class (counts summed)"),
        "modular": Field(
            bool,
            False,
            doc="hidden layers split into one pool per class, pool c feeding only class c's "
            "outputs (sizes of hidden layers: multiples of the class count)",
        ),
        "skip": Field(
            list,
            [],
            check=lambda v: (
                None
                if v == []
                or (len(v) == 2 and all(isinstance(x, (int, float)) and x >= 0 for x in v))
                else "must be [] (none) or [w_exc, w_inh], two non-negative mean weights"
            ),
            doc="[w_exc, w_inh]: also connect every input to every output (skip edges past "
            "the hidden layers) with these mean weights; [] none",
        ),
        "receptive": Field(
            dict,
            {},
            check=_receptive,
            doc="{image = [h, w, c], kernel = k, channels = n}: the first hidden layer as "
            "local receptive fields over the inputs (sizes[1] = h * w * n neurons, each fed "
            "by its k x k window of pixels and every bias input); {} dense",
        ),
        "delay": Field(float, 0.0, check=_nonneg, doc="synaptic delay, s"),
        "delay_inh": Field(float, -1.0, doc="delay of inhibitory edges, s (-1: = delay)"),
        "tau_syn": Field(float, 0.01, check=_pos, doc="synaptic time constant, s"),
        "threshold": Field(float, 1.0, check=_pos, doc="firing threshold"),
        "t_ref": Field(float, 0.002, check=_nonneg, doc="refractory period, s"),
    },
    "encoding": {
        "duration": Field(float, 0.1, check=_pos, doc="trial length, s"),
        "max_rate": Field(float, 100.0, check=_pos, doc="input rate of intensity 1, Hz"),
        "kind": Field(
            str,
            "poisson",
            choices=("poisson", "regular"),
            doc="input trains: poisson, or regular with a random phase per input and trial",
        ),
    },
    "loss": {
        "kind": Field(str, "mse", choices=("mse", "cross-entropy"), doc="trial loss"),
        "split": Field(
            str,
            "none",
            choices=("none", "class", "output"),
            doc="class / output: an edge learns from the mse terms of the classes / output "
            "neurons it reaches",
        ),
        "rate_on": Field(float, 60.0, check=_nonneg, doc="target rate of the true class, Hz"),
        "rate_off": Field(float, 10.0, check=_nonneg, doc="target rate of other classes, Hz"),
        "rate_scale": Field(float, 50.0, check=_pos, doc="Hz dividing rate errors (mse)"),
        "temperature": Field(float, 2.0, check=_pos, doc="softmax temperature, spikes"),
        "tie_break": Field(
            str,
            "first-spike",
            choices=("first-spike", "random"),
            doc="decoding of ties (random: all-silent trials score chance)",
        ),
    },
    "rule": rule_table,
    "train": {
        "trials": Field(
            int, 20000, check=_nonneg, doc="training trials (0: evaluate the network only)"
        ),
        "chunk": Field(int, 1000, check=_pos, doc="trials per chunk (checkpoint unit)"),
        "eval_every": Field(int, 5000, check=_pos, doc="trials between evaluations"),
        "eval_repeats": Field(int, 1, check=_pos, doc="trials per held-out example"),
        "batch": Field(int, 1, check=_pos, doc="trials simulated in parallel, same weights"),
        "threads": Field(int, 0, check=_nonneg, doc="threads for batch > 1 (0: all cores)"),
        "n_synapses": Field(int, 12, check=_pos, doc="synapses whose trajectories are plotted"),
        "plots": Field(bool, True, doc="write the plots"),
    },
}


#: Keys of [network] that a saved network (``network.file``) fixes: setting one of them to
#: other than its default next to ``network.file`` is refused. ``sizes``, ``bias_inputs``
#: and ``population`` stay: they must describe the saved network's layers.
NETWORK_FILE_KEYS = (
    "ei_pairs",
    "modular",
    "skip",
    "receptive",
    "w_exc",
    "w_inh",
    "spread",
    "inhibitory_fraction",
    "delay",
    "delay_inh",
    "tau_syn",
    "threshold",
    "t_ref",
)


def network_from_file(config: dict):
    """The saved network ``network.file`` names, checked against the config.

    Raises
    ------
    ConfigError
        Naming ``network.file`` and the path if the file is not a readable spikesim network
        file, a key of :data:`NETWORK_FILE_KEYS` that conflicts with it, or ``sizes`` /
        ``bias_inputs`` / ``population`` that do not describe its layers.
    """
    from spikesim.errors import ValidationError
    from spikesim.io import load_network

    netc = config["network"]
    path = netc["file"]
    for key in NETWORK_FILE_KEYS:
        default = TABLES["network"][key].default
        if netc[key] != default:
            raise ConfigError(
                f"network.{key} = {netc[key]!r} conflicts with network.file = {path!r} (the "
                f"saved network fixes it); remove network.{key}"
            )
    try:
        net = load_network(path)
    except ValidationError as exc:
        raise ConfigError(f"network.file = {path!r} is not a saved network: {exc}") from None
    sizes = list(netc["sizes"])
    want = [sizes[0] + netc["bias_inputs"], *sizes[1:-1], sizes[-1] * netc["population"]]
    have = [int(net.inputs.size), int(net.outputs.size)]
    if net.layers is not None:
        have = [int(g.size) for g in net.layers]
    if have != ([want[0], want[-1]] if net.layers is None else want):
        raise ConfigError(
            f"network.file = {path!r} has layers {have} but network.sizes = {sizes} with "
            f"bias_inputs = {netc['bias_inputs']} and population = {netc['population']} "
            f"describe {want}"
        )
    return net


def build(config: dict):
    """Network, training/test data (intensities, target rates, labels) of a config.

    Returns
    -------
    dict with ``network``, ``x_train``, ``t_train``, ``y_train``, ``x_test``, ``t_test``,
    ``y_test``, ``classification`` (bool).
    """
    from spikesim import data
    from spikesim.plasticity.loss import one_hot_rates
    from spikesim.plasticity.tasks import (
        ei_network,
        spike_pattern_task,
        teacher_rates,
        with_bias,
    )

    seed = config["experiment"]["seed"]
    task, netc, enc, lossc = config["task"], config["network"], config["encoding"], config["loss"]
    sizes = list(netc["sizes"])

    pop = netc["population"]

    def make_net(s, scale=1.0, population=1):
        w_exc = np.asarray(netc["w_exc"], float) * scale
        w_inh = np.asarray(netc["w_inh"], float) * scale
        n_t = len(sizes) - 1
        for name, w in (("w_exc", w_exc), ("w_inh", w_inh)):
            if w.ndim and w.size != n_t:
                raise ConfigError(f"network.{name} needs {n_t} values (one per transition)")
        inh = netc["inhibitory_fraction"]
        d_inh = netc["delay_inh"]
        return ei_network(
            [sizes[0] + netc["bias_inputs"], *sizes[1:-1], sizes[-1] * population],
            w_exc=w_exc,
            w_inh=w_inh,
            spread=netc["spread"],
            ei_pairs=netc["ei_pairs"],
            inhibitory_fraction=None if inh < 0 else inh,
            delay=netc["delay"],
            delay_inh=None if d_inh < 0 else d_inh,
            tau_syn=netc["tau_syn"],
            threshold=netc["threshold"],
            t_ref=netc["t_ref"],
            modules=sizes[-1] if netc["modular"] else 0,
            skip=tuple(netc["skip"]) if netc["skip"] else None,
            receptive=receptive_spec(netc),
            bias_inputs=netc["bias_inputs"] if netc["receptive"] else 0,
            seed=s,
        )

    net = network_from_file(config) if netc["file"] else make_net(seed, population=pop)
    name = task["dataset"]
    classification = name != "teacher-student"
    if name == "teacher-student":
        n_in = sizes[0]
        rng = np.random.default_rng([seed, 7])
        x = rng.random((task["n_samples"], n_in))
        n_test = max(1, int(round(task["test_fraction"] * x.shape[0])))
        teacher = make_net(seed + 1000, task["teacher_w_scale"])
        xb = with_bias(x, netc["bias_inputs"])
        t = teacher_rates(
            teacher,
            xb,
            duration=enc["duration"],
            max_rate=enc["max_rate"],
            repeats=task["teacher_repeats"],
            seed=seed + 2000,
        )
        ds_x_train, ds_x_test = x[n_test:], x[:n_test]
        t_train, t_test = t[n_test:], t[:n_test]
        y_train = np.full(len(t_train), -1)
        y_test = np.full(len(t_test), -1)
    else:
        if name == "spike-pattern":
            ds = spike_pattern_task(
                n_inputs=sizes[0],
                n_train=task["n_train"] or 400,
                n_test=task["n_test"] or 200,
                flip=task["flip"],
                low=task["low"],
                seed=seed,
            )
        else:
            ds = data.load(
                name,
                path=task["path"] or None,
                seed=seed,
                test_fraction=task["test_fraction"],
                n_train=task["n_train"] or None,
                n_test=task["n_test"] or None,
                n_per_class=task["n_per_class"] or None,
            )
        if ds.n_features != sizes[0]:
            raise ConfigError(
                f"network.sizes[0] = {sizes[0]} but {name} has {ds.n_features} features"
            )
        if sizes[-1] != ds.n_classes:
            raise ConfigError(
                f"network.sizes[-1] = {sizes[-1]} but {name} has {ds.n_classes} classes"
            )
        ds_x_train, ds_x_test = ds.x_train, ds.x_test
        y_train, y_test = ds.y_train, ds.y_test
        t_train = one_hot_rates(y_train, ds.n_classes, lossc["rate_on"], lossc["rate_off"])
        t_test = one_hot_rates(y_test, ds.n_classes, lossc["rate_on"], lossc["rate_off"])
    if pop > 1:
        if not classification:
            raise ConfigError("network.population > 1 needs a classification task")
        t_train = np.repeat(t_train, pop, axis=1)
        t_test = np.repeat(t_test, pop, axis=1)
    nb = netc["bias_inputs"]
    return {
        "network": net,
        "x_train": with_bias(ds_x_train, nb),
        "t_train": t_train,
        "y_train": y_train,
        "x_test": with_bias(ds_x_test, nb),
        "t_test": t_test,
        "y_test": y_test,
        "classification": classification,
    }


def validate(config: dict) -> None:
    """Cross-key checks of a resolved config (run at load time, before anything runs).

    Raises
    ------
    ConfigError
        Naming the offending keys.
    """
    r, lossc, tr = config["rule"], config["loss"], config["train"]
    make_rule(config)  # the rule's own parameter checks (named rule.KEY)
    netc = config["network"]
    inh = netc["inhibitory_fraction"]
    if inh != -1.0 and not 0.0 <= inh <= 1.0:
        raise ConfigError(f"network.inhibitory_fraction = {inh!r}: must be in [0, 1] (or -1)")
    if netc["delay_inh"] != -1.0 and netc["delay_inh"] < 0:
        raise ConfigError(f"network.delay_inh = {netc['delay_inh']!r}: must be >= 0 (or -1)")
    if netc["file"]:
        network_from_file(config)
    if netc["receptive"]:
        _check_receptive_sizes(netc)
    if netc["population"] > 1 and config["task"]["dataset"] == "teacher-student":
        raise ConfigError("network.population > 1 needs a classification task")
    if lossc["kind"] == "cross-entropy" and config["task"]["dataset"] == "teacher-student":
        raise ConfigError("loss.kind = 'cross-entropy' needs a classification task")
    if not 0.0 < r["beta"] <= 1.0:
        raise ConfigError(f"rule.beta = {r['beta']!r}: must be in (0, 1]")
    if r["baseline"] in ("same-sample", "leave-one-out", "sample-mean") and r["presentations"] < 2:
        raise ConfigError(
            f"rule.baseline = {r['baseline']!r} needs rule.presentations >= 2, got "
            f"{r['presentations']}"
        )
    if r["baseline"] == "leave-one-out" and tr["batch"] % r["presentations"]:
        raise ConfigError(
            f"rule.baseline = 'leave-one-out' needs train.batch (= {tr['batch']}) to be a "
            f"multiple of rule.presentations (= {r['presentations']})"
        )
    if tr["chunk"] % r["presentations"] or tr["chunk"] % tr["batch"]:
        raise ConfigError(
            f"train.chunk = {tr['chunk']} must be a multiple of rule.presentations and train.batch"
        )
    if tr["eval_every"] % tr["chunk"] or tr["trials"] % tr["chunk"]:
        raise ConfigError(
            f"train.eval_every ({tr['eval_every']}) and train.trials ({tr['trials']}) must be "
            f"multiples of train.chunk ({tr['chunk']})"
        )


def _check_receptive_sizes(netc: dict) -> None:
    rf = receptive_spec(netc)
    sizes = list(netc["sizes"])
    shown = f"network.receptive = {netc['receptive']!r}"
    h, w, c = rf.image
    if len(sizes) < 3:
        raise ConfigError(f"{shown} needs a hidden layer, got network.sizes = {sizes}")
    if sizes[0] != rf.n_inputs:
        raise ConfigError(
            f"{shown}: the {h}x{w}x{c} image has {rf.n_inputs} pixels but network.sizes[0] = "
            f"{sizes[0]} inputs"
        )
    if sizes[1] != rf.n_outputs:
        raise ConfigError(
            f"{shown}: {rf.channels} channels over the {h}x{w} image make {rf.n_outputs} "
            f"neurons but network.sizes[1] = {sizes[1]}"
        )


def make_rule(config: dict):
    """The plasticity rule of a config: ``rule.kind`` with its parameters from ``[rule]``.

    Raises
    ------
    ConfigError
        Naming the offending ``rule.KEY``.
    """
    from spikesim.errors import ValidationError
    from spikesim.plasticity import get_rule

    r = config["rule"]
    try:
        cls = get_rule(r["kind"])
        return cls(**{k: r[k] for k in cls.keys()})
    except ValidationError as exc:
        raise ConfigError(str(exc)) from None


def plastic_edges(network, frozen_layers) -> np.ndarray | None:
    """The edges the rule may change: all but those into the layers ``frozen_layers``
    (numbers in ``network.layers``, 0 = the inputs); None if none is frozen.

    Raises
    ------
    ConfigError
        A layer number the network does not have (naming ``rule.frozen_layers``).
    """
    if not frozen_layers:
        return None
    layers = network.layers or ()
    bad = [k for k in frozen_layers if not 1 <= k < len(layers)]
    if bad:
        raise ConfigError(
            f"rule.frozen_layers = {list(frozen_layers)}: the network has layers 1 .. "
            f"{len(layers) - 1} after its inputs, not {bad[0]}"
        )
    frozen = np.concatenate([np.asarray(layers[k]) for k in frozen_layers])
    return ~np.isin(network.post, frozen)


def make_trainer(config: dict, built: dict):
    """The :class:`~spikesim.plasticity.trainer.Trainer` of a config."""
    from spikesim.plasticity.trainer import Trainer

    r, enc, lossc, tr = config["rule"], config["encoding"], config["loss"], config["train"]
    validate(config)
    return Trainer(
        built["network"],
        built["x_train"],
        built["t_train"],
        built["y_train"],
        rule=make_rule(config),
        duration=enc["duration"],
        max_rate=enc["max_rate"],
        encoding=enc["kind"],
        learning_rate=r["learning_rate"],
        baseline=r["baseline"],
        beta=r["beta"],
        schedule=r["schedule"],
        k0=r["k0"],
        gamma=r["gamma"],
        presentations=r["presentations"],
        ck_noise_scaling=r["ck_noise_scaling"],
        loss=lossc["kind"],
        loss_split=lossc["split"],
        rate_scale=lossc["rate_scale"],
        temperature=lossc["temperature"],
        chunk=tr["chunk"],
        batch=tr["batch"],
        n_threads=tr["threads"] or None,
        shuffle_reward=r["shuffle_reward"],
        plastic=plastic_edges(built["network"], r["frozen_layers"]),
        population=config["network"]["population"],
        tie_break=lossc["tie_break"],
        seed=config["experiment"]["seed"],
    )


def _layer_rates(net, mean_counts, duration):
    return [float(mean_counts[g].mean() / duration) for g in net.groups()]


def _silent(net, mean_counts):
    return [float(np.mean(mean_counts[g] == 0)) for g in net.groups()]


class SpikingStepper(Stepper):
    """The ``spiking`` kind on the driver: one step is one chunk of ``train.chunk`` trials
    of :class:`~spikesim.plasticity.trainer.Trainer`; evaluations on the held-out set.

    State: the trainer's (``w``, baselines, ...), the sampled synapses' weights after
    every chunk (``snaps_step``, ``snaps_w``, for the trajectory plot) and the mean spike
    counts before training (``counts_before``, for the diagnostics).
    """

    unit = "trial"

    def __init__(self, config: dict):
        self.config = config
        self.built = build(config)
        self.trainer = make_trainer(config, self.built)
        self.tr = config["train"]
        net = self.built["network"]
        rng = np.random.default_rng([config["experiment"]["seed"], 9])
        n_syn = min(self.tr["n_synapses"], net.n_edges)
        # sample whole (pre, post) pairs, so both edges of an excitatory/inhibitory pair are
        # drawn (and plotted) together
        key = net.pre.astype(np.int64) * net.n_neurons + net.post
        uniq = np.unique(key)
        picked = rng.choice(uniq, size=min(uniq.size, n_syn), replace=False)
        order = {int(k): i for i, k in enumerate(picked)}
        cand = np.flatnonzero(np.isin(key, picked))
        cand = cand[np.argsort([order[int(k)] for k in key[cand]], kind="stable")]
        self.syn = np.sort(cand[:n_syn])
        self.w_init = self.trainer.w.copy()
        self.snaps_step: list[int] = [0]
        self.snaps_w: list[np.ndarray] = [self.w_init[self.syn]]
        self.counts_before: np.ndarray | None = None

    @property
    def position(self) -> int:
        return int(self.trainer.step)

    @property
    def total(self) -> int:
        return int(self.tr["trials"])

    @property
    def samples_seen(self) -> int:
        return int(self.trainer.step)

    def init(self) -> None:
        pass  # the trainer starts fresh

    def step(self) -> StepReport:
        r = self.trainer.train_chunk()
        self.snaps_step.append(int(self.trainer.step))
        self.snaps_w.append(self.trainer.w[self.syn].copy())
        stats = {
            "train_loss": float(r["losses"].mean()),
            "rel_change": float(r["rel_change"].mean()),
        }
        if self.built["classification"]:
            stats["train_accuracy"] = float(np.mean(r["preds"] == r["labels"]))
        return StepReport(samples=self.trainer.chunk, stats=stats)

    def _evaluate(self, record: bool) -> dict:
        b = self.built
        return self.trainer.evaluate(
            b["x_test"],
            b["t_test"],
            b["y_test"],
            repeats=self.tr["eval_repeats"],
            record_counts=record,
        )

    def evaluate(self) -> dict:
        first = self.counts_before is None
        ev = self._evaluate(record=first)
        if first:
            self.counts_before = ev["mean_counts"]
        return {
            "test_loss": float(ev["loss"]),
            "test_rate_loss": float(ev["rate_loss"]) if self.trainer.loss == "mse" else None,
            "test_accuracy": float(ev["accuracy"]) if self.built["classification"] else None,
        }

    def state_dict(self) -> dict:
        return {
            **{k: np.asarray(v) for k, v in self.trainer.state_dict().items()},
            "snaps_step": np.asarray(self.snaps_step, np.int64),
            "snaps_w": np.asarray(self.snaps_w),
            "counts_before": np.asarray(self.counts_before),
        }

    def load_state_dict(self, state) -> None:
        own = ("snaps_step", "snaps_w", "counts_before")
        self.trainer.load_state_dict({k: v for k, v in state.items() if k not in own})
        self.snaps_step = [int(s) for s in state["snaps_step"]]
        self.snaps_w = list(np.asarray(state["snaps_w"]))
        self.counts_before = np.asarray(state["counts_before"])

    def finalize(self, curve: list[dict], out_dir: Path | None) -> dict:
        from spikesim.experiments.runs import NETWORK
        from spikesim.io import save_network, write_npz

        net, trainer = self.built["network"], self.trainer
        ev1 = self._evaluate(record=True)
        first = curve[0]
        final = {"test_loss": float(ev1["loss"]), "trials": int(trainer.step)}
        if self.built["classification"]:
            final["test_accuracy"] = float(ev1["accuracy"])
        final["test_loss_over_initial"] = ev1["loss"] / first["test_loss"]
        if trainer.loss == "mse":
            final["test_rate_loss"] = float(ev1["rate_loss"])
            final["test_rate_loss_over_initial"] = ev1["rate_loss"] / first["test_rate_loss"]
        final["n_parameters"] = int(net.n_edges)
        before = self.counts_before
        details = {
            "classification": bool(self.built["classification"]),
            "n_edges": int(net.n_edges),
            "layer_rates_hz_before": _layer_rates(net, before, trainer.duration),
            "layer_rates_hz_after": _layer_rates(net, ev1["mean_counts"], trainer.duration),
            "silent_fraction_before": _silent(net, before),
            "silent_fraction_after": _silent(net, ev1["mean_counts"]),
            "output_mean_counts_after": ev1["mean_counts"][net.outputs].tolist(),
            "weight_mean_before": float(self.w_init.mean()),
            "weight_mean_after": float(trainer.w.mean()),
        }
        if out_dir is not None:
            write_npz(
                out_dir / "weights.npz",
                w_init=self.w_init,
                w_final=trainer.w,
                synapses=self.syn,
                snaps_step=np.asarray(self.snaps_step, np.int64),
                snaps_w=np.asarray(self.snaps_w),
                example_x=self.built["x_test"][0],
                example_y=np.asarray(self.built["y_test"][0], np.int64),
            )
            save_network(
                out_dir / NETWORK,
                net.with_weights(trainer.w),
                info={"trials": int(trainer.step), "experiment": self.config["experiment"]["name"]},
            )
        return {"final": final, "details": details}


def plot(run, out_dir: Path) -> list[Path]:
    """The ``spiking`` kind's figures from a run folder: ``learning_curve.png``,
    ``weights.png`` (sampled synapses' trajectories), ``weight_hist.png`` (before/after),
    ``raster_before.png`` and ``raster_after.png`` (test example 0)."""
    from spikesim import plots
    from spikesim.encoding import draw
    from spikesim.engines.event import simulate_csr, to_record
    from spikesim.io import save_figure
    from spikesim.plasticity.loss import predict
    from spikesim.record import check_input_spikes

    out_dir = Path(out_dir)
    config, net = run.config, run.network
    name = config["experiment"]["name"]
    with np.load(run.path / "weights.npz") as z:
        w = {k: z[k] for k in z.files}
    w_init, w_final, syn = w["w_init"], w["w_final"], w["synapses"]
    step = np.asarray([p["step"] for p in run.curve], float)
    values = lambda key: [np.nan if p.get(key) is None else p[key] for p in run.curve]  # noqa: E731
    written = []
    if run.details.get("classification", True):
        ax = plots.learning_curves(
            {"test accuracy": (step, values("test_accuracy"))},
            xlabel="trials",
            ylabel="test accuracy",
            chance=config["network"]["population"] / net.outputs.size,
            title=f"{name}: reward-modulated STDP",
        )
    else:
        ax = plots.learning_curves(
            {
                "test loss (single trials)": (step, values("test_loss")),
                "test rate loss (rates averaged over repeats)": (step, values("test_rate_loss")),
            },
            xlabel="trials",
            ylabel="test loss (mse)",
            title=f"{name}: reward-modulated STDP",
        )
    written.append(save_figure(ax.figure, out_dir / "learning_curve.png"))
    ax = plots.weight_trajectories(
        w["snaps_step"],
        w["snaps_w"],
        network=net,
        edges=syn,
        title=f"{name}: weights of {len(syn)} sampled synapses (solid exc, dashed inh)",
    )
    written.append(save_figure(ax.figure, out_dir / "weights.png"))
    axes = plots.weight_histogram(w_init, w_final, net.sign, title=f"{name}: weight histogram")
    written.append(save_figure(axes[0].figure, out_dir / "weight_hist.png"))
    enc = config["encoding"]
    duration, max_rate = enc["duration"], enc["max_rate"]
    rng = np.random.default_rng([config["experiment"]["seed"], 11])
    counts, t_in = draw(enc["kind"], w["example_x"] * max_rate * duration, duration, rng)
    nrn = np.repeat(net.inputs, counts)
    inp = check_input_spikes(net, (t_in, nrn), duration)
    groups = net.groups()
    names = ["input"] + [f"hidden {k}" for k in range(1, len(groups) - 1)] + ["output"]
    classification = run.details.get("classification", True)
    pop = int(config["network"]["population"])
    label = int(w["example_y"]) if "example_y" in w else None
    if classification:
        # output neurons grouped by class: class c owns outputs c*P .. c*P + P - 1
        outs = net.outputs
        n_classes = outs.size // pop
        groups = groups[:-1] + [outs[c * pop : (c + 1) * pop] for c in range(n_classes)]
        names = names[:-1] + [f"output class {c}" for c in range(n_classes)]
    for tag, weights in (("before", w_init), ("after", w_final)):
        s, c, b = simulate_csr(net, weights, inp[0], inp[1], duration)
        rec = to_record(net, s, c, b, duration)
        title = f"{name}: test example 0, {tag}"
        if classification:
            pred = predict(rec.counts()[net.outputs], population=pop)
            truth = "?" if label is None or label < 0 else str(label)
            title += f" (true class {truth}, predicted {pred})"
        ax = plots.raster(rec, groups, group_names=names, title=title)
        written.append(save_figure(ax.figure, out_dir / f"raster_{tag}.png"))
    return written


def _schedule(config: dict) -> Schedule:
    return Schedule(eval_every=config["train"]["eval_every"], checkpoint_every=None)


KIND = register_kind(
    TrainingKind(
        name="spiking",
        tables=TABLES,
        validate=validate,
        doc="spiking network trained with reward-modulated STDP (Schmidt-Hieber eq. 4.1)",
        stepper=SpikingStepper,
        schedule=_schedule,
        plot=plot,
        budget_keys=("train.trials",),
        plots_key="train.plots",
    )
)
