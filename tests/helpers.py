"""Helpers shared by the tests: the layer checker every layer test uses, a headless browser.

``check_layer(forward, backward, args, wrt=...)`` runs a layer forward and backward and
compares the analytic gradients with centred numerical differences in float64.
``check_against_torch(...)`` compares forward values and gradients with a PyTorch
reference computed by autograd in float64 (skipped, with the reason, without torch).
``chromium_dump_dom(page, profile)`` opens an HTML page in headless Chromium and returns
the DOM after its scripts ran, and Chromium's log (the pages' console messages included);
``chromium_layout(page, profile, width, height)`` measures a page in a window of that size
(horizontal overflow, where elements are, whether every image loaded).
"""
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

from components import skip_unless
from glassnet.gradient_check import (eval_numerical_gradient,
                                     eval_numerical_gradient_array, rel_error)


def _as_tuple(grads):
    return grads if isinstance(grads, tuple) else (grads,)


def numeric_grads(forward, args, wrt, dout, h=1e-6):
    """Numerical gradients of sum(forward(*args)[0] * dout) w.r.t. args[i] for i in wrt."""
    out = []
    for i in wrt:
        f = lambda _: forward(*args)[0]  # noqa: E731 - closes over args[i], perturbed in place
        out.append(eval_numerical_gradient_array(f, args[i], dout, h=h))
    return out


def check_layer(forward, backward, args, wrt, tol=1e-7, seed=0, h=1e-6):
    """Gradient-check a layer pair in float64; returns the list of relative errors.

    forward(*args) -> (out, cache); backward(dout, cache) -> grads, one per entry of
    ``wrt`` (indices into ``args``, in the order backward returns them).
    """
    rng = np.random.RandomState(seed)
    out, cache = forward(*args)
    dout = rng.randn(*np.shape(out))
    analytic = _as_tuple(backward(dout, cache))
    assert len(analytic) == len(wrt), f"backward returned {len(analytic)} grads, expected {len(wrt)}"
    numeric = numeric_grads(forward, args, wrt, dout, h=h)
    errors = []
    for i, a, n in zip(wrt, analytic, numeric):
        assert np.shape(a) == np.shape(args[i]), f"grad {i} has shape {np.shape(a)}, arg {np.shape(args[i])}"
        err = rel_error(a, n)
        assert err < tol, f"gradient of argument {i}: relative error {err:.3e} >= {tol:.0e}"
        errors.append(err)
    return errors


def check_loss(loss_fn, x, y, tol=1e-7, h=1e-6):
    """Gradient-check a loss ``loss_fn(x, y) -> (loss, dx)``; returns the relative error."""
    _, dx = loss_fn(x, y)
    num = eval_numerical_gradient(lambda _: loss_fn(x, y)[0], x, verbose=False, h=h)
    err = rel_error(dx, num)
    assert err < tol, f"loss gradient relative error {err:.3e} >= {tol:.0e}"
    return err


def torch_or_skip():
    """Return the torch module, or skip the calling test with the reason (a failure when
    GLASSNET_CI_REQUIRE names torch: see components.py)."""
    try:
        import torch
    except ImportError as exc:
        skip_unless("torch", False, f"PyTorch not installed ({exc}): the float64 comparison "
                                    f"with torch is skipped (pip install 'glassnet[test]' "
                                    f"-c constraints.txt brings torch==2.13.0)")
    return torch


def check_against_torch(forward, backward, args, wrt, torch_fn, tol=1e-10, seed=0):
    """Compare a layer with ``torch_fn(*tensors) -> tensor`` in float64.

    Forward outputs and the gradients of sum(out * dout) w.r.t. args[i], i in wrt, must
    agree to ``tol`` relative error. Returns the largest relative error seen.
    """
    torch = torch_or_skip()
    rng = np.random.RandomState(seed)
    out, cache = forward(*args)
    dout = rng.randn(*np.shape(out))
    analytic = _as_tuple(backward(dout, cache))
    tensors = [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=(i in wrt))
               if isinstance(a, np.ndarray) else a for i, a in enumerate(args)]
    t_out = torch_fn(*tensors)
    t_out.backward(torch.tensor(np.asarray(dout, dtype=np.float64)))
    worst = rel_error(out, t_out.detach().numpy())
    assert worst < tol, f"forward differs from torch: relative error {worst:.3e}"
    for i, a in zip(wrt, analytic):
        err = rel_error(a, tensors[i].grad.numpy())
        assert err < tol, f"gradient of argument {i} differs from torch: {err:.3e}"
        worst = max(worst, err)
    return worst


# ---- models ----------------------------------------------------------------------

def grad_error(analytic, numeric):
    """Largest relative error |a - n| / (|a| + |n|) over the entries, where an entry is
    measured against at least 1e-4 of the array's largest entry: a gradient that is zero
    up to rounding (a bias followed by batchnorm, a dropped unit) then counts as agreeing
    instead of giving a meaningless ratio of two rounding errors. If the whole gradient
    vanishes, the largest absolute difference is returned."""
    a, n = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    scale = max(np.max(np.abs(a)), np.max(np.abs(n)))
    if scale < 1e-8:
        return float(np.max(np.abs(a - n)))
    return float(np.max(np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), 1e-4 * scale)))


def randomize_biases(model, seed=0):
    """Give every bias a random value: zero biases put examples whose inputs to a layer
    are all dropped exactly on relu's kink, where the numerical gradient is meaningless."""
    rng = np.random.RandomState(seed)
    for name in model.params:
        if name.startswith("b") and not name.startswith("beta"):
            model.params[name] = 0.1 * rng.randn(*model.params[name].shape)


def model_grad_errors(model, X, y, h=1e-5):
    """grad_error of every analytic gradient of model.loss against centred differences.

    With h = 1e-5 in float64 a numerical gradient carries ~1e-11 of rounding, so entries
    that are zero by cancellation show errors up to ~1e-6 under grad_error's floor; the
    tests accept 1e-5, far below what a wrong gradient gives (> 1e-2)."""
    randomize_biases(model)
    _, grads = model.loss(X, y)
    assert set(grads) == set(model.params)
    errors = {}
    for name in sorted(model.params):
        f = lambda _: model.loss(X, y)[0]  # noqa: E731 - perturbs model.params[name] in place
        num = eval_numerical_gradient(f, model.params[name], verbose=False, h=h)
        assert grads[name].shape == model.params[name].shape
        errors[name] = grad_error(grads[name], num)
    return errors


def train_inline(model, X, y, steps, learning_rate):
    """Plain Adam on model.loss; returns training accuracy after ``steps`` updates."""
    state = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in model.params.items()}
    for t in range(1, steps + 1):
        _, grads = model.loss(X, y)
        for k, w in model.params.items():
            m, v = state[k]
            m[...] = 0.9 * m + 0.1 * grads[k]
            v[...] = 0.999 * v + 0.001 * grads[k] ** 2
            mhat, vhat = m / (1 - 0.9 ** t), v / (1 - 0.999 ** t)
            model.params[k] = w - learning_rate * mhat / (np.sqrt(vhat) + 1e-8)
    return float(np.mean(np.argmax(model.loss(X), axis=1) == y))


def naive_spatial_bn_relu(relu):
    """The readable reference for the fast spatial batchnorm (then ReLU when ``relu``):
    a (forward, backward) pair built from glassnet.layers."""
    from glassnet.layers import (relu_backward, relu_forward, spatial_batchnorm_backward,
                                 spatial_batchnorm_forward)
    if not relu:
        return spatial_batchnorm_forward, spatial_batchnorm_backward

    def forward(x, gamma, beta, bn_param):
        a, bn_cache = spatial_batchnorm_forward(x, gamma, beta, bn_param)
        out, relu_cache = relu_forward(a)
        return out, (bn_cache, relu_cache)

    def backward(dout, cache):
        return spatial_batchnorm_backward(relu_backward(dout, cache[1]), cache[0])

    return forward, backward


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium_dump_dom(page, profile, virtual_time_ms=5000, timeout=120, window_size=None):
    """Open ``page`` (an HTML file) in headless Chromium with a fresh profile folder
    ``profile``; returns the finished process: stdout is the DOM once the page has loaded
    and its scripts have run (for up to ``virtual_time_ms`` of virtual time), stderr
    Chromium's log, where each console message is a line containing ':CONSOLE'.
    ``window_size``: ``(width, height)`` of the window in CSS pixels (layout checks)."""
    size = [f"--window-size={window_size[0]},{window_size[1]}"] if window_size else []
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", *size,
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
         f"--virtual-time-budget={virtual_time_ms}", "--dump-dom",
         Path(page).resolve().as_uri()],
        capture_output=True, text=True, timeout=timeout)


# Appended to a copy of a page by chromium_layout: once everything has loaded, it measures
# the page and leaves the numbers, as JSON, in a hidden element (hidden: it changes no
# layout) that --dump-dom then shows.
_LAYOUT_SCRIPT = """<script>
window.addEventListener("load", () => {
  const box = (e) => { const r = e.getBoundingClientRect();
                       return {top: r.top, bottom: r.bottom, width: r.width}; };
  const out = {
    viewport: [window.innerWidth, window.innerHeight],
    scrollWidth: document.documentElement.scrollWidth,
    elements: Object.fromEntries(ELEMENT_IDS.map((id) => {
      const e = document.getElementById(id); return [id, e ? box(e) : null]; })),
    images: Array.from(document.images, (img) => ({
      alt: img.alt, loaded: img.complete && img.naturalWidth > 0,
      naturalWidth: img.naturalWidth, shownWidth: img.getBoundingClientRect().width})),
  };
  const pre = document.createElement("pre");
  pre.id = "chromium-layout"; pre.hidden = true; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def chromium_layout(page, profile, width=1280, height=900, element_ids=()):
    """Open a copy of ``page`` in headless Chromium in a ``width`` x ``height`` window and
    measure it once loaded; returns a dict: ``viewport`` [w, h], ``scrollWidth`` (of the
    document: more than the width means a horizontal scroll bar), ``elements`` ({id:
    {top, bottom, width} in px, or None when absent}) and ``images`` (one {alt, loaded,
    naturalWidth, shownWidth} per <img>). The copy sits in ``profile``'s parent folder."""
    page, profile = Path(page), Path(profile)
    copy = profile.parent / f"measured-{page.name}"
    script = _LAYOUT_SCRIPT.replace("ELEMENT_IDS", json.dumps(list(element_ids)))
    text = page.read_text(encoding="utf-8")
    copy.write_text(text.replace("</body>", script + "</body>", 1), encoding="utf-8")
    proc = chromium_dump_dom(copy, profile, window_size=(width, height))
    found = re.search(r'<pre id="chromium-layout" hidden="">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"the page was not measured; Chromium said:\n{proc.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))
