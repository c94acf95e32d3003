"""glassnet.allocator.keep_freed_memory: freed blocks are reused instead of faulted in again."""
import subprocess
import sys
import textwrap

import pytest

from glassnet.allocator import keep_freed_memory

# A child process allocates, writes and frees the arrays of a small "training step" a few
# times and prints its page faults per step after the first steps.
STEP_FAULTS = textwrap.dedent("""
    import resource, sys
    import numpy as np
    if sys.argv[1] == "keep":
        from glassnet.allocator import keep_freed_memory
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
def test_freed_memory_is_reused_without_page_faults():
    default, kept = _faults_per_step("default"), _faults_per_step("keep")
    # 60 MB written per step: about 15,000 4 KiB pages (fewer with huge pages) when glibc
    # returns the freed blocks to the system, next to none when it keeps them.
    assert default > 500
    assert kept < default / 20


@pytest.mark.parametrize("value, error", [(0, ValueError), (2**31, ValueError),
                                          (1.5, TypeError), (True, TypeError)])
def test_bad_trim_bytes(value, error):
    with pytest.raises(error, match="trim_bytes"):
        keep_freed_memory(value)
