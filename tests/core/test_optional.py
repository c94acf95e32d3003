"""glassnet._core.optional.require: the module when it imports, else one ImportError that
names the missing top-level package and how to install it."""
import sys

import pytest

from glassnet._core.optional import require


def test_an_installed_module_is_returned():
    assert require("json.decoder", "reading needs", "pip install nothing") is sys.modules[
        "json.decoder"]


@pytest.mark.parametrize("module", ["glassnet_absent_pkg", "glassnet_absent_pkg.numpy"])
def test_a_missing_package_is_named_with_its_install_hint(module):
    with pytest.raises(ImportError) as info:
        require(module, "exporting needs", "pip install 'glassnet[export]'")
    assert str(info.value) == ("exporting needs the Python package 'glassnet_absent_pkg', "
                               "which is not installed: pip install 'glassnet[export]'")
    assert info.value.name == "glassnet_absent_pkg"


def test_a_blocked_module_counts_as_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match="'onnx', which is not installed"):
        require("onnx", "exporting to ONNX needs", "pip install onnx")
