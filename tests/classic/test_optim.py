"""Update rules: the classic exercise values, trajectories against torch.optim in float64,
no mutation of inputs, dtypes and argument errors."""
import numpy as np
import pytest

from glassnet import optim
from glassnet.gradient_check import rel_error
from helpers import torch_or_skip

N, D = 4, 5


def classic_inputs():
    w = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
    dw = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)
    state = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
    return w, dw, state


# --- the classic exercise values (printed to 8 decimals: agreement to 5e-9) ------------

def test_sgd_momentum_classic_values():
    w, dw, v = classic_inputs()
    next_w, config = optim.sgd_momentum(w, dw, {"learning_rate": 1e-3, "velocity": v})
    expected_next_w = np.asarray([
        [0.1406, 0.20738947, 0.27417895, 0.34096842, 0.40775789],
        [0.47454737, 0.54133684, 0.60812632, 0.67491579, 0.74170526],
        [0.80849474, 0.87528421, 0.94207368, 1.00886316, 1.07565263],
        [1.14244211, 1.20923158, 1.27602105, 1.34281053, 1.4096]])
    expected_velocity = np.asarray([
        [0.5406, 0.55475789, 0.56891579, 0.58307368, 0.59723158],
        [0.61138947, 0.62554737, 0.63970526, 0.65386316, 0.66802105],
        [0.68217895, 0.69633684, 0.71049474, 0.72465263, 0.73881053],
        [0.75296842, 0.76712632, 0.78128421, 0.79544211, 0.8096]])
    np.testing.assert_allclose(next_w, expected_next_w, rtol=0, atol=5e-9)
    np.testing.assert_allclose(config["velocity"], expected_velocity, rtol=0, atol=5e-9)
    assert rel_error(next_w, expected_next_w) < 1e-8
    assert config["momentum"] == 0.9


def test_rmsprop_classic_values():
    w, dw, cache = classic_inputs()
    next_w, config = optim.rmsprop(w, dw, {"learning_rate": 1e-2, "cache": cache})
    expected_next_w = np.asarray([
        [-0.39223849, -0.34037513, -0.28849239, -0.23659121, -0.18467247],
        [-0.132737, -0.08078555, -0.02881884, 0.02316247, 0.07515774],
        [0.12716641, 0.17918792, 0.23122175, 0.28326742, 0.33532447],
        [0.38739248, 0.43947102, 0.49155973, 0.54365823, 0.59576619]])
    expected_cache = np.asarray([
        [0.5976, 0.6126277, 0.6277108, 0.64284931, 0.65804321],
        [0.67329252, 0.68859723, 0.70395734, 0.71937285, 0.73484377],
        [0.75037008, 0.7659518, 0.78158892, 0.79728144, 0.81302936],
        [0.82883269, 0.84469141, 0.86060554, 0.87657507, 0.8926]])
    np.testing.assert_allclose(next_w, expected_next_w, rtol=0, atol=5e-9)
    np.testing.assert_allclose(config["cache"], expected_cache, rtol=0, atol=5e-9)
    assert config["decay_rate"] == 0.99 and config["epsilon"] == 1e-8


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("num_threads", ["1", "3"])
def test_adam_in_blocks_gives_the_formulas_bits(monkeypatch, dtype, num_threads):
    """Large parameters go through blocks and threads (_adam_into, no temporaries): three
    steps give the same bits as the plain formulas, state included."""
    import glassnet.fast.threads
    monkeypatch.setattr(optim, "_ADAM_BLOCKED_SIZE", 64)
    monkeypatch.setattr(optim, "_ADAM_BLOCK", 50)           # a shorter last block
    monkeypatch.setattr(glassnet.fast.threads, "MIN_ELEMENTS_PER_THREAD", 1)
    monkeypatch.setenv("GLASSNET_NUM_THREADS", num_threads)
    rng = np.random.RandomState(3)
    w = rng.randn(17, 13).astype(dtype)
    blocked, plain = {"learning_rate": 3e-3}, {"learning_rate": 3e-3}
    w_blocked = w_plain = w
    m = v = np.zeros_like(w)
    for t in range(1, 4):
        dw = rng.randn(17, 13).astype(dtype)
        w_blocked, blocked = optim.adam(w_blocked, dw, blocked)
        w_plain, m, v = optim._adam_formulas(w_plain, dw, m, v, t, {
            "learning_rate": 3e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8})
        np.testing.assert_array_equal(w_blocked, w_plain)
        np.testing.assert_array_equal(blocked["m"], m)
        np.testing.assert_array_equal(blocked["v"], v)
        assert w_blocked.dtype == dtype and blocked["t"] == t


def test_adam_classic_values():
    w, dw, m = classic_inputs()
    v = np.linspace(0.7, 0.5, num=N * D).reshape(N, D)
    config = {"learning_rate": 1e-2, "m": m, "v": v, "t": 5}
    next_w, config = optim.adam(w, dw, config)
    expected_next_w = np.asarray([
        [-0.40094747, -0.34836187, -0.29577703, -0.24319299, -0.19060977],
        [-0.1380274, -0.08544591, -0.03286534, 0.01971428, 0.0722929],
        [0.1248705, 0.17744702, 0.23002243, 0.28259667, 0.33516969],
        [0.38774145, 0.44031188, 0.49288093, 0.54544852, 0.59801459]])
    expected_v = np.asarray([
        [0.69966, 0.68908382, 0.67851319, 0.66794809, 0.65738853],
        [0.64683452, 0.63628604, 0.6257431, 0.61520571, 0.60467385],
        [0.59414753, 0.58362676, 0.57311152, 0.56260183, 0.55209767],
        [0.54159906, 0.53110598, 0.52061845, 0.51013645, 0.49966]])
    expected_m = np.asarray([
        [0.48, 0.49947368, 0.51894737, 0.53842105, 0.55789474],
        [0.57736842, 0.59684211, 0.61631579, 0.63578947, 0.65526316],
        [0.67473684, 0.69421053, 0.71368421, 0.73315789, 0.75263158],
        [0.77210526, 0.79157895, 0.81105263, 0.83052632, 0.85]])
    np.testing.assert_allclose(next_w, expected_next_w, rtol=0, atol=5e-9)
    np.testing.assert_allclose(config["v"], expected_v, rtol=0, atol=5e-9)
    np.testing.assert_allclose(config["m"], expected_m, rtol=0, atol=5e-9)
    assert config["t"] == 6


def test_sgd_formula_and_default():
    w, dw, _ = classic_inputs()
    next_w, config = optim.sgd(w, dw)
    assert config == {"learning_rate": 1e-2}
    np.testing.assert_array_equal(next_w, w - 1e-2 * dw)


def test_defaults_and_state_created_on_first_use():
    w, dw, _ = classic_inputs()
    expected = {
        "sgd_momentum": {"learning_rate": 1e-2, "momentum": 0.9},
        "nesterov": {"learning_rate": 1e-2, "momentum": 0.9},
        "rmsprop": {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
        "adagrad": {"learning_rate": 1e-2, "epsilon": 1e-8, "initial_accumulator_value": 0.0},
        "adam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "t": 1},
        "adamw": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8,
                  "t": 1, "weight_decay": 1e-2},
    }
    for name, defaults in expected.items():
        _, config = getattr(optim, name)(w, dw)
        for key, value in defaults.items():
            assert config[key] == value, (name, key)
    # Adam's first step from zero moments moves every coordinate by about lr * sign(dw).
    next_w, _ = optim.adam(w, dw)
    np.testing.assert_allclose(w - next_w, 1e-3 * np.sign(dw), rtol=1e-4)


def test_user_config_values_are_kept():
    w, dw, _ = classic_inputs()
    config = {"learning_rate": 0.5, "momentum": 0.0}
    next_w, out = optim.sgd_momentum(w, dw, config)
    assert out is config  # the classic rules return the dict they were given
    np.testing.assert_allclose(next_w, w - 0.5 * dw, rtol=1e-15)


def test_nesterov_equals_lookahead_form():
    rng = np.random.RandomState(0)
    w, v_old = rng.randn(3, 4), rng.randn(3, 4)
    dw = rng.randn(3, 4)
    lr, mu = 0.05, 0.8
    next_w, config = optim.nesterov(w, dw, {"learning_rate": lr, "momentum": mu,
                                            "velocity": v_old})
    v = mu * v_old - lr * dw
    np.testing.assert_allclose(next_w, w - mu * v_old + (1 + mu) * v, rtol=1e-13)
    np.testing.assert_allclose(config["velocity"], v, rtol=1e-13)


def test_adagrad_initial_accumulator_value():
    w, dw, _ = classic_inputs()
    next_w, config = optim.adagrad(w, dw, {"initial_accumulator_value": 0.5, "learning_rate": 0.1})
    np.testing.assert_allclose(config["cache"], 0.5 + dw ** 2, rtol=1e-15)
    np.testing.assert_allclose(next_w, w - 0.1 * dw / (np.sqrt(0.5 + dw ** 2) + 1e-8), rtol=1e-14)


def test_adamw_is_adam_on_decayed_weights():
    w, dw, _ = classic_inputs()
    next_w, _ = optim.adamw(w, dw, {"learning_rate": 0.1, "weight_decay": 0.3})
    ref, _ = optim.adam(w * (1 - 0.1 * 0.3), dw, {"learning_rate": 0.1})
    np.testing.assert_array_equal(next_w, ref)
    # With zero gradient Adam's step is 0, so AdamW only shrinks the weights.
    shrunk, _ = optim.adamw(w, np.zeros_like(w), {"learning_rate": 0.1, "weight_decay": 0.3})
    np.testing.assert_allclose(shrunk, w * 0.97, rtol=1e-15)


# --- inputs are never changed; dtypes ----------------------------------------------------

STATE_KEYS = {"sgd": [], "sgd_momentum": ["velocity"], "nesterov": ["velocity"],
              "rmsprop": ["cache"], "adagrad": ["cache"], "adam": ["m", "v"],
              "adamw": ["m", "v"]}


@pytest.mark.parametrize("name", optim.__all__)
def test_rules_never_mutate_inputs(name):
    w, dw, state = classic_inputs()
    config = {key: state.copy() for key in STATE_KEYS[name]}
    saved = {key: value.copy() for key, value in config.items()}
    w0, dw0 = w.copy(), dw.copy()
    next_w, config = getattr(optim, name)(w, dw, config)
    assert next_w is not w
    np.testing.assert_array_equal(w, w0)
    np.testing.assert_array_equal(dw, dw0)
    for key, value in saved.items():
        assert not np.array_equal(config[key], value), f"{name} did not update {key}"
    # The arrays that came in are unchanged (new state arrays were stored instead).
    config2 = {key: state.copy() for key in STATE_KEYS[name]}
    inputs = dict(config2)
    getattr(optim, name)(w, dw, config2)
    for key in STATE_KEYS[name]:
        np.testing.assert_array_equal(inputs[key], state)


@pytest.mark.parametrize("name", optim.__all__)
def test_float32_in_float32_out(name):
    w, dw, _ = classic_inputs()
    rule = getattr(optim, name)
    config = {"learning_rate": np.float64(1e-2)}  # a NumPy float64 scalar must not upcast
    next_w, config = rule(w.astype(np.float32), dw.astype(np.float32), config)
    assert next_w.dtype == np.float32
    for key in STATE_KEYS[name]:
        assert config[key].dtype == np.float32
    ref, _ = rule(w, dw, {"learning_rate": 1e-2})
    np.testing.assert_allclose(next_w, ref, rtol=1e-5, atol=1e-6)
    # A float64 gradient keeps float32 weights float32.
    next_w, _ = rule(w.astype(np.float32), dw, {})
    assert next_w.dtype == np.float32


@pytest.mark.parametrize("name", optim.__all__)
def test_integer_inputs_are_float64(name):
    next_w, _ = getattr(optim, name)(np.arange(6).reshape(2, 3), np.ones((2, 3), dtype=int))
    assert next_w.dtype == np.float64


@pytest.mark.parametrize("name", optim.__all__)
def test_bad_arguments(name):
    rule = getattr(optim, name)
    w = np.zeros((2, 3))
    with pytest.raises(ValueError,
                       match=r"dw must have the shape of w \(2, 3\); got shape \(3, 2\)"):
        rule(w, np.zeros((3, 2)))
    with pytest.raises(TypeError, match="config must be a dict; got list"):
        rule(w, np.zeros((2, 3)), [0.1])
    with pytest.raises(TypeError, match="w must be an array of numbers"):
        rule(np.array(["a", "b"]), np.zeros(2))
    if STATE_KEYS[name]:
        key = STATE_KEYS[name][0]
        with pytest.raises(ValueError, match=rf"config\['{key}'\] must have the shape of w"):
            rule(w, np.zeros((2, 3)), {key: np.zeros(5)})


# --- 20-step trajectories against torch.optim in float64 --------------------------------

LR = 0.05

# (our rule, our config, torch optimizer factory, pairs (our state key, torch state -> ours))
TORCH_CASES = {
    "sgd": (
        {"learning_rate": LR},
        lambda torch, p: torch.optim.SGD([p], lr=LR),
        []),
    "sgd_momentum": (
        {"learning_rate": LR, "momentum": 0.9},
        lambda torch, p: torch.optim.SGD([p], lr=LR, momentum=0.9),
        [("velocity", lambda s: -LR * s["momentum_buffer"])]),
    "nesterov": (
        {"learning_rate": LR, "momentum": 0.9},
        lambda torch, p: torch.optim.SGD([p], lr=LR, momentum=0.9, nesterov=True),
        [("velocity", lambda s: -LR * s["momentum_buffer"])]),
    "rmsprop": (
        {"learning_rate": LR, "decay_rate": 0.9, "epsilon": 1e-8},
        lambda torch, p: torch.optim.RMSprop([p], lr=LR, alpha=0.9, eps=1e-8),
        [("cache", lambda s: s["square_avg"])]),
    "adagrad": (
        {"learning_rate": LR, "epsilon": 1e-10, "initial_accumulator_value": 0.1},
        lambda torch, p: torch.optim.Adagrad([p], lr=LR, eps=1e-10,
                                             initial_accumulator_value=0.1),
        [("cache", lambda s: s["sum"])]),
    "adam": (
        {"learning_rate": LR, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-8},
        lambda torch, p: torch.optim.Adam([p], lr=LR, betas=(0.8, 0.99), eps=1e-8),
        [("m", lambda s: s["exp_avg"]), ("v", lambda s: s["exp_avg_sq"])]),
    "adamw": (
        {"learning_rate": LR, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-8,
         "weight_decay": 0.5},
        lambda torch, p: torch.optim.AdamW([p], lr=LR, betas=(0.8, 0.99), eps=1e-8,
                                           weight_decay=0.5),
        [("m", lambda s: s["exp_avg"]), ("v", lambda s: s["exp_avg_sq"])]),
}


def quadratic_grad(w, scale, target):
    """Gradient of 0.5 * sum(scale * (w - target)**2) plus a bumpy sin term, so the
    trajectory depends on where each step lands."""
    return scale * (w - target) + 0.3 * np.sin(3 * w)


@pytest.mark.parametrize("name", sorted(TORCH_CASES))
def test_trajectory_matches_torch(name):
    torch = torch_or_skip()
    config, make_optimizer, state_pairs = TORCH_CASES[name]
    rng = np.random.RandomState(7)
    w = rng.randn(6, 5)
    scale, target = rng.uniform(0.2, 3.0, size=w.shape), rng.randn(*w.shape)
    p = torch.tensor(w.copy(), dtype=torch.float64, requires_grad=True)
    opt = make_optimizer(torch, p)
    rule, config = getattr(optim, name), dict(config)
    worst = 0.0
    for _ in range(20):
        p.grad = torch.from_numpy(quadratic_grad(p.detach().numpy(), scale, target))
        opt.step()
        w, config = rule(w, quadratic_grad(w, scale, target), config)
        ref = p.detach().numpy()
        worst = max(worst, rel_error(w, ref))
        for key, from_torch in state_pairs:
            worst = max(worst, rel_error(config[key], from_torch(opt.state[p]).numpy()))
    print(f"{name}: largest relative error vs torch over 20 steps = {worst:.2e}")
    assert worst < 1e-11
    # The trajectory really moved (the comparison is not between two unchanged arrays).
    assert np.abs(w - np.random.RandomState(7).randn(6, 5)).max() > 1e-2


# --- hyperparameters checked once, from one table; a rule that raises changes nothing ----

BAD_HYPERPARAMETERS = [
    # (key, value, error, message fragment)
    ("learning_rate", float("nan"), ValueError, r"config\['learning_rate'\] must be a finite "
                                                r"number >= 0; got nan"),
    ("learning_rate", -1e-3, ValueError, r"config\['learning_rate'\] must be a finite number"),
    ("learning_rate", float("inf"), ValueError, r"config\['learning_rate'\]"),
    ("learning_rate", "0.1", TypeError, r"config\['learning_rate'\] must be .*got '0.1' \(str\)"),
    ("learning_rate", True, TypeError, r"config\['learning_rate'\] .*\(bool\)"),
    ("momentum", 1.0, ValueError, r"config\['momentum'\] must be a number in \[0, 1\); got 1.0"),
    ("momentum", -0.1, ValueError, r"config\['momentum'\] must be a number in \[0, 1\)"),
    ("decay_rate", 1.0, ValueError, r"config\['decay_rate'\] must be a number in \[0, 1\)"),
    ("decay_rate", float("nan"), ValueError, r"config\['decay_rate'\]"),
    ("beta1", 1.0, ValueError, r"config\['beta1'\] must be a number in \[0, 1\); got 1.0"),
    ("beta2", 1.5, ValueError, r"config\['beta2'\] must be a number in \[0, 1\); got 1.5"),
    ("beta2", 1.0, ValueError, r"config\['beta2'\]"),
    ("epsilon", 0.0, ValueError, r"config\['epsilon'\] must be a finite number > 0; got 0.0"),
    ("epsilon", -1e-8, ValueError, r"config\['epsilon'\]"),
    ("weight_decay", -0.1, ValueError, r"config\['weight_decay'\] must be a finite number >= 0"),
    ("initial_accumulator_value", -1.0, ValueError, r"config\['initial_accumulator_value'\]"),
    ("t", -1, ValueError, r"config\['t'\] must be a non-negative integer; got -1"),
    ("t", 2.5, TypeError, r"config\['t'\] must be a non-negative integer; got 2.5"),
]


def _rules_using(key):
    return [name for name in optim.__all__
            if key in optim.DEFAULTS[name] or (key == "t" and name in ("adam", "adamw"))]


@pytest.mark.parametrize("name, key, value, error, match", [
    (name, *case) for case in BAD_HYPERPARAMETERS for name in _rules_using(case[0])])
def test_bad_hyperparameters_are_refused_and_config_is_unchanged(name, key, value, error, match):
    w, dw, state = classic_inputs()
    config = {key: value}
    for state_key in STATE_KEYS[name]:
        config[state_key] = state.copy()
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in config.items()}
    with pytest.raises(error, match=match):
        getattr(optim, name)(w, dw, config)
    assert set(config) == set(before)            # no defaults filled in, no state added
    for k, v in before.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(config[k], v)
        elif isinstance(v, float) and np.isnan(v):
            assert np.isnan(config[k])
        else:
            assert config[k] == v


def test_every_hyperparameter_has_a_range_and_a_default_inside_it():
    for name in optim.__all__:
        assert set(optim.DEFAULTS[name]) <= set(optim.RANGES), name
        _, config = getattr(optim, name)(np.zeros(3), np.ones(3))   # defaults pass their ranges
        assert {k: config[k] for k in optim.DEFAULTS[name]} == optim.DEFAULTS[name]


@pytest.mark.parametrize("value", [0.0, np.float32(0.5), 1, np.int64(0), np.array(0.25)])
def test_boundary_values_that_are_allowed(value):
    w, dw, _ = classic_inputs()
    next_w, _ = optim.sgd_momentum(w, dw, {"learning_rate": value, "momentum": 0.0})
    np.testing.assert_allclose(next_w, w - float(value) * dw, rtol=1e-6)
    next_w, config = optim.adam(w, dw, {"beta1": 0.0, "beta2": 0.0, "t": np.int64(3)})
    assert config["t"] == 4 and np.all(np.isfinite(next_w))


@pytest.mark.parametrize("name", [n for n in optim.__all__ if STATE_KEYS[n]])
def test_bad_state_arrays_are_refused_and_config_is_unchanged(name):
    w, dw, _ = classic_inputs()
    key = STATE_KEYS[name][-1]
    for bad, error, match in [
            (np.zeros((2, 2)), ValueError, rf"config\['{key}'\] must have the shape of w"),
            (np.zeros(w.shape, complex), TypeError, rf"config\['{key}'\] must be an array of "
                                                    r"numbers; got dtype complex128"),
            (np.full(w.shape, "a"), TypeError, rf"config\['{key}'\] must be an array")]:
        config = {key: bad}
        with pytest.raises(error, match=match):
            getattr(optim, name)(w, dw, config)
        assert list(config) == [key] and config[key] is bad


@pytest.mark.parametrize("name", optim.__all__)
def test_nonfinite_gradients_are_not_refused(name):
    # The training loop detects divergence itself (on_nonfinite='warn' still steps).
    with np.errstate(invalid="ignore"):
        next_w, _ = getattr(optim, name)(np.zeros(3), np.array([np.nan, np.inf, 1.0]))
    assert not np.all(np.isfinite(next_w))


@pytest.mark.parametrize("name", optim.__all__)
def test_every_rule_documents_its_parameters(name):
    doc = getattr(optim, name).__doc__
    assert "Parameters\n    ----------" in doc
    for key in list(optim.DEFAULTS[name]) + list(STATE_KEYS[name]):
        assert f"``{key}``" in doc or (name == "adamw" and key != "weight_decay"), (name, key)


@pytest.mark.parametrize("name", optim.__all__)
def test_float16_parameters_with_zero_gradients_stay_finite(name):
    # Found by tests/layers/test_fuzz_layers.py: epsilon = 1e-8 is 0 in float16, so a step computed
    # in float16 divided 0 by 0 wherever the gradient was 0.
    w = np.ones(3, dtype=np.float16)
    dw = np.array([0.0, 1.0, -2.0], dtype=np.float16)
    next_w, config = getattr(optim, name)(w, dw)
    assert next_w.dtype == np.float16 and np.all(np.isfinite(next_w))
    assert next_w[0] == 1.0 or name == "adamw"
    ref, _ = getattr(optim, name)(w.astype(np.float64), dw.astype(np.float64))
    np.testing.assert_allclose(next_w, ref, rtol=2e-3)
    for key in STATE_KEYS[name]:
        assert config[key].dtype == np.float32
    next_w, _ = getattr(optim, name)(next_w, dw, config)     # float32 state goes back in
    assert next_w.dtype == np.float16 and np.all(np.isfinite(next_w))
