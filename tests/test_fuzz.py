"""Hypothesis fuzzing: every bad input ends in spikesim's own error, naming the problem.

Each fuzz test feeds arbitrary values (NaN, inf, huge numbers, wrong dtypes, strings, None,
ragged and nested lists, empty arrays, mismatched lengths, out-of-range ids, cycles) to one
public entry point and accepts exactly two outcomes: success, or a
:class:`~spikesim.errors.SpikesimError` with a non-empty message (that names the mutated
argument where the test knows which one it broke). Anything else -- an exception from
numpy, Numba or Brian2, or a numpy warning (pytest turns warnings into errors) -- fails.
Inputs known to be valid must succeed.

Every test runs ``FAST`` examples by default and ``SLOW`` in the ``slow`` variant
(``pytest -m slow tests/test_fuzz.py``). The number of inputs each test actually tried is
counted and printed at the end of the module (``pytest -s``); set ``SPIKESIM_FUZZ_REPORT``
to a path to also get them as JSON.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import spikesim
from spikesim import encoding
from spikesim.errors import ConfigError, SpikesimError
from spikesim.record import check_input_spikes

FAST = 200
SLOW = 5000
COUNTS: Counter = Counter()
OUTCOMES: Counter = Counter()


def sizes(fast=FAST):
    return [
        pytest.param(fast, id="fast"),
        pytest.param(SLOW, id="slow", marks=pytest.mark.slow),
    ]


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    yield
    lines = [
        f"{name}: {COUNTS[name]} inputs ({OUTCOMES[name, 'ok']} accepted, "
        f"{OUTCOMES[name, 'error']} refused with a spikesim error)"
        for name in sorted(COUNTS)
    ]
    print("\nfuzz inputs tried:\n  " + "\n  ".join(lines))
    path = os.environ.get("SPIKESIM_FUZZ_REPORT")
    if path:
        Path(path).write_text(
            json.dumps(
                {
                    name: {
                        "inputs": COUNTS[name],
                        "accepted": OUTCOMES[name, "ok"],
                        "refused": OUTCOMES[name, "error"],
                    }
                    for name in sorted(COUNTS)
                },
                indent=2,
            )
            + "\n"
        )


def fuzz_settings(n):
    return settings(
        max_examples=n,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


def attempt(name, fn, *args, names=None, **kwargs):
    """Call ``fn``; success or SpikesimError only. Returns the result or the error."""
    COUNTS[name] += 1
    try:
        out = fn(*args, **kwargs)
    except SpikesimError as exc:
        msg = str(exc)
        assert msg.strip(), f"{type(exc).__name__} without a message"
        if names is not None:
            assert any(n in msg for n in names), f"message {msg!r} names none of {names}"
        OUTCOMES[name, "error"] += 1
        return exc
    OUTCOMES[name, "ok"] += 1
    return out


def check_count(name, before, n):
    tried = COUNTS[name] - before
    # hypothesis runs max_examples examples unless the space is exhausted; each calls once
    assert tried >= min(n, 50), f"{name}: only {tried} inputs tried"


# -- arbitrary values -----------------------------------------------------------------------

# Numbers are either small (fast to act on) or far beyond any limit, never "merely large",
# so that a valid-but-huge request cannot make a run take minutes.
small_ints = st.integers(-3, 12)
huge_ints = st.one_of(st.integers(10**12, 10**30), st.integers(-(10**30), -(10**12)))
ints = st.one_of(small_ints, huge_ints, st.sampled_from([2**63 - 1, 2**63, -(2**63), 2**64]))
special_floats = st.sampled_from(
    [math.nan, math.inf, -math.inf, 1e300, -1e300, 1.7e308, 5e-324, -0.0, 1e15, -1e-9]
)
small_floats = st.floats(-2.0, 50.0, allow_nan=False)
floats = st.one_of(small_floats, special_floats)
numbers = st.one_of(ints, floats)
scalars = st.one_of(
    numbers,
    st.none(),
    st.booleans(),
    st.text(max_size=3),
    st.binary(max_size=3),
    st.complex_numbers(max_magnitude=5),
    st.sampled_from([np.float32(0.5), np.int8(-1), np.uint64(2**64 - 1), np.nan]),
)
dtypes = st.sampled_from(
    [np.int8, np.int64, np.uint8, np.uint64, np.float16, np.float32, np.float64, bool]
    + [np.complex128, "U2", "S2", "M8[s]", object]
)


@st.composite
def np_arrays(draw, max_side=6):
    dtype = np.dtype(draw(dtypes))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=max_side))
    if dtype.kind in "iufc":
        if dtype.kind == "i":
            info = np.iinfo(dtype)
            elements = st.integers(max(info.min, -5), min(info.max, 12)) | st.sampled_from(
                [info.min, info.max]
            )
        elif dtype.kind == "u":
            info = np.iinfo(dtype)
            elements = st.integers(0, 12) | st.just(info.max)
        else:
            elements = None
        return draw(hnp.arrays(dtype, shape, elements=elements))
    if dtype.kind == "O":
        return np.array(draw(st.lists(scalars, max_size=4)) + [None], dtype=object)
    return draw(hnp.arrays(dtype, shape))


arrays = st.one_of(
    np_arrays(),
    st.lists(numbers, max_size=6),
    st.lists(scalars, max_size=4),
    st.lists(st.lists(numbers, max_size=3), max_size=3),  # ragged or 2-d
    st.lists(st.integers(-2, 12), max_size=8),
)
anything = st.one_of(scalars, arrays, st.dictionaries(st.text(max_size=3), scalars, max_size=3))


def mostly(valid, *junk):
    """``valid`` three times in four, else one of ``junk``.

    (``st.one_of(valid, valid, valid, junk)`` would not do: one_of flattens nested one_ofs,
    so a many-branched junk strategy would swamp the valid one.)
    """
    junk_ = st.one_of(*junk)
    return st.integers(0, 3).flatmap(lambda k: junk_ if k == 0 else valid)


# -- valid objects ----------------------------------------------------------------------------


@st.composite
def valid_network_kwargs(draw):
    n = draw(st.integers(1, 8))
    perm = np.array(draw(st.permutations(range(n))))
    n_inputs = draw(st.integers(0, n))
    pairs = [(a, b) for a in range(n) for b in range(max(a + 1, n_inputs), n)]
    chosen = draw(st.lists(st.sampled_from(pairs), max_size=12)) if pairs else []
    m = len(chosen)
    unit = st.floats(0.0, 3.0)
    return dict(
        n_neurons=n,
        pre=perm[[a for a, _ in chosen]].astype(np.int64),
        post=perm[[b for _, b in chosen]].astype(np.int64),
        weight=draw(st.lists(unit, min_size=m, max_size=m)),
        delay=draw(st.lists(st.floats(0, 0.01), min_size=m, max_size=m)),
        sign=draw(st.lists(st.sampled_from([1, -1]), min_size=m, max_size=m)),
        inputs=perm[:n_inputs],
        outputs=perm[n - draw(st.integers(0, n)) :],
        tau_syn=draw(st.floats(1e-4, 0.1)),
        threshold=draw(st.floats(0.1, 2.0)),
        t_ref=draw(st.floats(0.0, 0.01)),
    )


@st.composite
def valid_records(draw):
    n = draw(st.integers(1, 8))
    duration = draw(st.floats(1e-3, 10.0))
    m = draw(st.integers(0, 20))
    t = np.array(
        draw(st.lists(st.floats(0, duration, exclude_max=True), min_size=m, max_size=m)), float
    )
    k = np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), np.int64)
    order = np.lexsort((k, t))
    return spikesim.SpikeRecord(times=t[order], neurons=k[order], n_neurons=n, duration=duration)


# Which words an error about a mutated Network argument may use to name it.
NETWORK_NAMES = {
    "n_neurons": ["n_neurons"],
    "pre": ["pre", "cycle", "input neuron"],
    "post": ["post", "cycle", "input neuron"],
    "weight": ["weight"],
    "delay": ["delay"],
    "sign": ["sign"],
    "inputs": ["inputs", "input neuron"],
    "outputs": ["outputs"],
    "tau_syn": ["tau_syn"],
    "threshold": ["threshold"],
    "t_ref": ["t_ref"],
    "layers": ["layers"],
}


# -- the network builder -----------------------------------------------------------------


@pytest.mark.parametrize("n", sizes())
def test_fuzz_network_valid_inputs_succeed(n):
    before = COUNTS["Network(valid)"]

    @fuzz_settings(n)
    @given(kw=valid_network_kwargs())
    def run(kw):
        net = attempt("Network(valid)", spikesim.Network, **kw)
        assert isinstance(net, spikesim.Network), f"valid network refused: {net}"

    run()
    check_count("Network(valid)", before, n)


@pytest.mark.parametrize("n", sizes())
def test_fuzz_network_one_bad_argument(n):
    """A valid network with one argument replaced by an arbitrary value."""
    before = COUNTS["Network(mutated)"]

    @fuzz_settings(n)
    @given(
        kw=valid_network_kwargs(),
        field=st.sampled_from(sorted(NETWORK_NAMES)),
        value=st.one_of(anything, st.lists(st.integers(-3, 12), max_size=12)),
    )
    def run(kw, field, value):
        kw[field] = value
        names = list(NETWORK_NAMES[field])
        if field == "n_neurons":
            # a different size makes other arguments wrong: they may be named instead
            names += ["pre", "post", "inputs", "outputs", "tau_syn", "threshold", "t_ref"]
        attempt("Network(mutated)", spikesim.Network, names=names, **kw)

    run()
    check_count("Network(mutated)", before, n)


@pytest.mark.parametrize("n", sizes())
def test_fuzz_network_arbitrary_arguments(n):
    """Every argument arbitrary at once (cycles, mismatched lengths, wrong dtypes, ...)."""
    before = COUNTS["Network(arbitrary)"]
    ids = st.lists(st.integers(-1, 7), max_size=10)

    @fuzz_settings(n)
    @given(
        n_neurons=st.one_of(st.integers(-1, 8), scalars),
        pre=st.one_of(ids, arrays),
        post=st.one_of(ids, arrays),
        weight=st.one_of(st.lists(floats, max_size=10), arrays, scalars),
        rest=st.dictionaries(
            st.sampled_from(["delay", "sign", "inputs", "outputs", "tau_syn", "threshold"]),
            anything,
            max_size=3,
        ),
    )
    def run(n_neurons, pre, post, weight, rest):
        attempt(
            "Network(arbitrary)",
            spikesim.Network,
            n_neurons=n_neurons,
            pre=pre,
            post=post,
            weight=weight,
            **rest,
        )

    run()
    check_count("Network(arbitrary)", before, n)


@pytest.mark.parametrize("n", sizes())
def test_fuzz_layered(n):
    before = COUNTS["layered"]
    sizes_ = st.one_of(
        st.lists(st.integers(1, 6), min_size=2, max_size=4),  # mostly valid
        st.lists(ints, max_size=4),
        anything,
    )

    @fuzz_settings(n)
    @given(
        sizes=sizes_,
        kw=st.fixed_dictionaries(
            {},
            optional={
                "p_connect": mostly(st.floats(0.01, 1.0), numbers, scalars),
                "weight_mean": mostly(st.floats(0, 2), anything),
                "weight_spread": mostly(st.floats(0, 1), numbers),
                "inhibitory_fraction": mostly(st.floats(0, 1), numbers, scalars),
                "delay": mostly(st.floats(0, 0.01), numbers, scalars),
                "tau_syn": mostly(st.floats(1e-3, 0.1), numbers),
                "threshold": mostly(st.floats(0.1, 2), numbers, scalars),
                "t_ref": mostly(st.floats(0, 0.01), numbers),
                "seed": mostly(st.integers(0, 2**64), scalars),
            },
        ),
    )
    def run(sizes, kw):
        out = attempt("layered", spikesim.layered, sizes, **kw)
        if isinstance(out, spikesim.Network):
            assert out.n_neurons == sum(int(s) for s in sizes)

    run()
    check_count("layered", before, n)


@pytest.mark.parametrize("n", sizes())
def test_fuzz_random_dag(n):
    before = COUNTS["random_dag"]
    pair = mostly(st.tuples(st.floats(0, 1), st.floats(1, 2)), anything, st.tuples(numbers))

    @fuzz_settings(n)
    @given(
        n_neurons=mostly(st.integers(2, 12), st.integers(-1, 2), scalars),
        n_inputs=mostly(st.integers(1, 4), st.integers(-1, 1), scalars),
        n_outputs=mostly(st.integers(1, 4), st.integers(-1, 1), scalars),
        kw=st.fixed_dictionaries(
            {},
            optional={
                "p_edge": mostly(st.floats(0, 1), numbers),
                "weight_range": pair,
                "delay_range": pair,
                "inhibitory_fraction": mostly(st.floats(0, 1), numbers),
                "tau_syn": mostly(st.floats(1e-3, 0.1), numbers),
                "threshold": mostly(st.floats(0.1, 2), numbers),
                "t_ref": mostly(st.floats(0, 0.01), numbers),
                "seed": mostly(st.integers(0, 100), scalars),
            },
        ),
    )
    def run(n_neurons, n_inputs, n_outputs, kw):
        attempt(
            "random_dag",
            spikesim.random_dag,
            n_neurons,
            n_inputs=n_inputs,
            n_outputs=n_outputs,
            **kw,
        )

    run()
    check_count("random_dag", before, n)


# -- encoders and decoders ---------------------------------------------------------------

ENCODERS = {
    "poisson": (encoding.poisson, ("max_rate", "seed")),
    "regular": (encoding.regular, ("max_rate", "phase")),
    "latency": (encoding.latency, ("t_min", "threshold")),
}


@pytest.mark.parametrize("n", sizes())
@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_fuzz_encoders(encoder, n):
    fn, extra = ENCODERS[encoder]
    name = f"encoding.{encoder}"
    before = COUNTS[name]
    x_valid = st.lists(st.floats(0, 1), max_size=8)

    @fuzz_settings(n)
    @given(
        x=mostly(x_valid, arrays, scalars, st.lists(floats, max_size=4)),
        duration=mostly(st.floats(1e-3, 2.0), numbers, scalars),
        neurons=mostly(st.none(), arrays),
        kw=st.fixed_dictionaries(
            {}, optional={k: mostly(st.floats(0, 0.9), numbers, scalars) for k in extra}
        ),
    )
    def run(x, duration, neurons, kw):
        out = attempt(name, fn, x, duration=duration, neurons=neurons, **kw)
        if isinstance(out, tuple):
            t, k = out
            assert t.dtype == np.float64 and k.dtype == np.int64 and t.shape == k.shape
            assert np.all((t >= 0) & (t < float(duration)))

    run()
    check_count(name, before, n)


def test_encoders_accept_valid_input():
    x = np.linspace(0, 1, 7)
    for name, (fn, _) in ENCODERS.items():
        t, k = fn(x, duration=0.1, neurons=np.arange(10, 17))
        assert set(k.tolist()) <= set(range(10, 17)), name


DECODERS = {
    "spike_counts": encoding.spike_counts,
    "spike_rates": encoding.spike_rates,
    "first_spike_times": encoding.first_spike_times,
}


@pytest.mark.parametrize("n", sizes())
@pytest.mark.parametrize("decoder", sorted(DECODERS))
def test_fuzz_decoders(decoder, n):
    fn = DECODERS[decoder]
    name = f"encoding.{decoder}"
    before = COUNTS[name]
    window = mostly(st.floats(0, 5), numbers, scalars)
    if decoder == "first_spike_times":
        options = {"default": mostly(floats, scalars)}
    else:
        options = {"t_start": window, "t_stop": window}

    @fuzz_settings(n)
    @given(
        rec=mostly(valid_records(), anything),
        neurons=mostly(st.lists(st.integers(0, 7), max_size=6), arrays, scalars),
        kw=st.fixed_dictionaries({}, optional=options),
    )
    def run(rec, neurons, kw):
        out = attempt(name, fn, rec, neurons, **kw)
        if isinstance(out, np.ndarray):
            assert out.shape == np.shape(neurons)
            if decoder != "first_spike_times":
                assert np.all(out >= 0)

    run()
    check_count(name, before, n)


@pytest.mark.parametrize("n", sizes())
def test_fuzz_check_input_spikes(n):
    name = "check_input_spikes"
    before = COUNTS[name]
    net = spikesim.Network(
        n_neurons=4, pre=[0, 1], post=[2, 3], weight=[1.0, 1.0], inputs=[0, 1], outputs=[3]
    )
    valid_pair = st.integers(0, 6).flatmap(
        lambda m: st.tuples(
            st.lists(st.floats(0, 0.2), min_size=m, max_size=m),
            st.lists(st.integers(0, 1), min_size=m, max_size=m),
        )
    )
    pair = mostly(
        valid_pair,
        st.tuples(
            mostly(st.lists(st.floats(0, 0.2), max_size=5), arrays, scalars),
            st.one_of(st.lists(st.integers(-1, 4), max_size=5), arrays, scalars),
        ),
    )

    @fuzz_settings(n)
    @given(
        spikes=mostly(pair, anything, st.lists(arrays, max_size=3)),
        duration=mostly(st.floats(1e-3, 1.0), numbers, scalars),
        network=mostly(st.just(net), anything),
    )
    def run(spikes, duration, network):
        out = attempt(name, check_input_spikes, network, spikes, duration)
        if isinstance(out, tuple):
            t, k = out
            assert np.all(net.is_input[k]) and np.all((t >= 0) & (t < duration))

    run()
    check_count(name, before, n)


@pytest.mark.parametrize("n", sizes())
def test_fuzz_spike_record_validate(n):
    name = "SpikeRecord.validate"
    before = COUNTS[name]

    @fuzz_settings(n)
    @given(
        rec=valid_records(),
        field=st.sampled_from(
            ["times", "neurons", "n_neurons", "duration", "voltage", "voltage_times", None]
        ),
        value=st.one_of(
            anything,
            st.lists(floats, max_size=5).map(np.array),
            st.lists(st.integers(-1, 5), max_size=5).map(np.array),
        ),
    )
    def run(rec, field, value):
        if field is not None:  # one attribute replaced by an arbitrary value
            rec = rec.replace(**{field: value})
        out = attempt(name, rec.validate)
        if isinstance(out, spikesim.SpikeRecord):
            # a record that passes validation works with every decoder
            encoding.spike_counts(out, np.arange(out.n_neurons))
            encoding.first_spike_times(out, np.arange(out.n_neurons))
            out.trains()

    run()
    check_count(name, before, n)


# -- the experiment config parser -------------------------------------------------------------

toml_scalars = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.booleans(),
    st.text(max_size=6),
    st.sampled_from(["spiking", "rate", "toy", "compare", "file"]),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@pytest.mark.parametrize("n", sizes())
def test_fuzz_validate_table(n):
    from spikesim.experiments import Field, validate_table

    schema = {
        "rate": Field(float, 0.1, check=lambda v: None if v > 0 else "must be positive"),
        "mode": Field(str, "a", choices=("a", "b")),
        "n": Field(int, doc="count"),
        "sizes": Field(list, [1, 2]),
        "flag": Field(bool, False),
        "either": Field((int, str), 0),
    }
    name = "validate_table"
    before = COUNTS[name]
    valid = st.fixed_dictionaries(
        {"n": mostly(st.integers(), toml_values)},
        optional={
            "rate": mostly(st.floats(0.01, 10), toml_values),
            "mode": mostly(st.sampled_from(["a", "b"]), toml_values),
            "sizes": mostly(st.lists(st.integers(1, 9), max_size=3), toml_values),
            "flag": mostly(st.booleans(), toml_values),
            "either": mostly(st.one_of(st.integers(), st.text(max_size=3)), toml_values),
        },
    )

    @fuzz_settings(n)
    @given(
        table=mostly(
            valid,
            st.tuples(valid, st.text(max_size=4), toml_values).map(lambda t: {**t[0], t[1]: t[2]}),
            toml_values,
        )
    )
    def run(table):
        out = attempt(name, validate_table, table, schema, "t", names=["t."] + ["[t]"])
        if isinstance(out, dict):
            assert set(out) == set(schema) and isinstance(out["n"], int)

    run()
    check_count(name, before, n)


@pytest.mark.parametrize("n", sizes())
def test_fuzz_resolve(n, tmp_path_factory):
    """Arbitrary TOML-like documents through resolve(), for every registered kind."""
    from spikesim.experiments import available_kinds, resolve
    from spikesim.experiments.config import _KINDS

    kinds = available_kinds()
    name = "resolve"
    before = COUNTS[name]
    base = tmp_path_factory.mktemp("resolve")

    @st.composite
    def documents(draw):
        kind = draw(st.one_of(st.sampled_from(kinds), toml_scalars))
        exp = draw(st.dictionaries(st.sampled_from(["name", "seed", "x"]), toml_values, max_size=2))
        if draw(st.booleans()):
            exp["kind"] = kind
        doc = {"experiment": draw(st.one_of(st.just(exp), toml_values))}
        tables = list(_KINDS[kind].tables) if kind in _KINDS else []
        for table in draw(st.lists(st.sampled_from(tables + ["bogus", "file"]), max_size=3)):
            schema = _KINDS[kind].tables.get(table, {}) if kind in _KINDS else {}
            # a callable schema (keys depending on a value) gets some plausible keys
            keys = sorted(schema) if isinstance(schema, dict) else ["name", "lr", "hidden"]
            doc[table] = draw(
                st.one_of(
                    st.dictionaries(
                        st.sampled_from(keys + ["file", "zzz"]), toml_values, max_size=4
                    ),
                    toml_values,
                )
            )
        return draw(st.one_of(st.just(doc), toml_values))

    toy = st.fixed_dictionaries(
        {
            "experiment": st.fixed_dictionaries(
                {"kind": st.just("toy")}, optional={"seed": st.integers(0, 9)}
            )
        },
        optional={
            "toy": st.fixed_dictionaries(
                {},
                optional={
                    "scale": mostly(st.floats(0.1, 3), toml_values),
                    "n": mostly(st.integers(1, 5), toml_values),
                    "steps": mostly(st.integers(1, 3), toml_values),
                },
            )
        },
    )

    @fuzz_settings(n)
    @given(doc=mostly(toy, documents()))
    def run(doc):
        attempt(name, resolve, doc, base_dir=base)

    run()
    check_count(name, before, n)


@pytest.mark.parametrize("n", sizes(fast=100))
def test_fuzz_load_experiment_file(n, tmp_path_factory):
    """Arbitrary bytes (and mangled valid files) as an experiment file: ConfigError only."""
    from spikesim.experiments import load

    name = "experiments.load"
    before = COUNTS[name]
    d = tmp_path_factory.mktemp("load")
    valid = b'[experiment]\nkind = "toy"\nseed = 1\n'

    @fuzz_settings(n)
    @given(
        data=st.one_of(
            st.binary(max_size=60),
            st.text(max_size=60).map(str.encode),
            st.tuples(st.integers(0, len(valid)), st.binary(max_size=4)).map(
                lambda p: valid[: p[0]] + p[1] + valid[p[0] :]
            ),
        )
    )
    def run(data):
        path = d / "exp.toml"
        path.write_bytes(data)
        attempt(name, load, path)

    run()
    check_count(name, before, n)
    for bad in (d, d / "absent.toml"):
        with pytest.raises(ConfigError):
            load(bad)
    (d / "ok.toml").write_bytes(valid)
    assert load(d / "ok.toml")["experiment"]["seed"] == 1
    assert tomllib.loads(valid.decode())["experiment"]["kind"] == "toy"


@pytest.mark.parametrize("n", sizes())
def test_fuzz_overrides(n):
    """Arbitrary ``--set`` strings and ``compare.set`` tables on a raw experiment dict: the
    override lands at its table and key, or a ConfigError naming the option."""
    from spikesim.experiments.config import apply_overrides, parse_value

    name = "apply_overrides"
    before = COUNTS[name]
    words = st.text(alphabet="abc._= [],\"'1", max_size=10)
    valid = st.tuples(
        st.sampled_from(["train", "task", "new"]),
        st.sampled_from(["n", "x_y", "rate"]),
        st.sampled_from(["1", "0.5", "true", '"s"', "[1, 2]", "word", "{a = 1}"]),
    ).map(lambda t: f"{t[0]}.{t[1]}={t[2]}")

    @fuzz_settings(n)
    @given(
        items=st.one_of(
            st.lists(mostly(valid, words, st.text(max_size=12)), max_size=3),
            st.dictionaries(mostly(st.sampled_from(["train.n", "new.k"]), words), toml_values),
        )
    )
    def run(items):
        raw = {"train": {"n": 0}, "task": 5, "experiment": {"kind": "toy"}}
        source = "--set" if isinstance(items, list) else "compare.set"
        out = attempt(name, apply_overrides, raw, items, source=source, names=[source])
        if isinstance(out, dict) and isinstance(items, list) and items:
            table_key, _, text = items[-1].partition("=")
            table, _, key = table_key.partition(".")
            # the parser strips spaces round table and key, as TOML's "a . b" does
            assert out[table.strip()][key.strip()] == parse_value(text.strip())

    run()
    check_count(name, before, n)
