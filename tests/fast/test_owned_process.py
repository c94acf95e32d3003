"""glassnet.fast.process: freed blocks are reused instead of faulted in again; OpenBLAS's
idle threads are told to sleep, by the ``glassnet`` program, before NumPy loads."""
import subprocess
import sys
import textwrap

import pytest

from glassnet.fast.process import keep_freed_memory

# A child process allocates, writes and frees the arrays of a small "training step" a few
# times and prints its page faults per step after the first steps.
STEP_FAULTS = textwrap.dedent("""
    import resource, sys
    import numpy as np
    if sys.argv[1] == "keep":
        from glassnet.fast.process import keep_freed_memory
        assert keep_freed_memory() is True
    def step():
        arrays = []
        for size in (3_211_264, 1_605_632, 802_816, 3_000_000, 6_000_000):
            a = np.empty(size, np.float32)
            a.fill(1)
            arrays.append(a)
    for _ in range(3):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        step()
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
""")


def _faults_per_step(mode):
    done = subprocess.run([sys.executable, "-c", STEP_FAULTS, mode], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return float(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator is Linux's")
@pytest.mark.slow
def test_freed_memory_is_reused_without_page_faults():
    default, kept = _faults_per_step("default"), _faults_per_step("keep")
    # 60 MB written per step: thousands of page faults when glibc returns the freed blocks
    # to the system, next to none when it keeps them.
    if default < 500:
        pytest.skip(f"only {default:.0f} page faults a step with glibc's defaults (huge "
                    f"pages?): nothing for keep_freed_memory to save on this system")
    assert kept < default / 20


@pytest.mark.parametrize("value, error", [(0, ValueError), (2**31, ValueError),
                                          (1.5, TypeError), (True, TypeError)])
def test_bad_trim_bytes(value, error):
    with pytest.raises(error, match="trim_bytes"):
        keep_freed_memory(value)


def _run_python(code, env_extra=None, unset=()):
    import os
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(env_extra or {})
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_program_quiets_blas_threads_before_numpy_loads():
    # What glassnet's entry point sees: NumPy not loaded yet, the variable set for OpenBLAS.
    code = ("import sys, glassnet.__main__ as m, glassnet.fast.process as p\n"
            "print('numpy' in sys.modules, p.quiet_blas_threads())\n"
            "import os; print(os.environ['OPENBLAS_THREAD_TIMEOUT'])")
    assert _run_python(code, unset=("OPENBLAS_THREAD_TIMEOUT",)).split() == ["False", "True", "4"]
    # A value the user chose is kept; after NumPy loaded, the call says it is too late.
    code = ("import numpy, os, glassnet.fast.process as p\n"
            "print(p.quiet_blas_threads(), os.environ['OPENBLAS_THREAD_TIMEOUT'])")
    assert _run_python(code, {"OPENBLAS_THREAD_TIMEOUT": "20"}).split() == ["False", "20"]


def test_importing_the_command_line_changes_nothing():
    code = ("import os, glassnet.cli\n"
            "print(os.environ.get('OPENBLAS_THREAD_TIMEOUT', 'unset'))")
    assert _run_python(code, unset=("OPENBLAS_THREAD_TIMEOUT",)) == "unset"


def test_the_glassnet_program_runs_with_quiet_blas_threads():
    code = ("import sys, os\n"
            "sys.argv = ['glassnet', '--version']\n"
            "from glassnet.__main__ import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(os.environ['OPENBLAS_THREAD_TIMEOUT'])")
    out = _run_python(code, unset=("OPENBLAS_THREAD_TIMEOUT",)).splitlines()
    assert out[0].startswith("glassnet ") and out[-1] == "4"
