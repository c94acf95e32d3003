"""Finding the classic modules in the course layouts."""
from glassnet.grade.discover import CLASSIFIER_MODULES, TOP_MODULES, discover


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")


def test_cs231n_package_layout(tmp_path):
    for name in ("__init__", "layers", "optim", "solver"):
        touch(tmp_path / "assignment2" / "cs231n" / f"{name}.py")
    touch(tmp_path / "assignment2" / "cs231n" / "classifiers" / "fc_net.py")
    found = discover(tmp_path)
    assert found.layout == "cs231n"
    assert found.root == tmp_path / "assignment2"
    assert found.modules == {"layers": "cs231n.layers", "optim": "cs231n.optim",
                             "solver": "cs231n.solver", "fc_net": "cs231n.classifiers.fc_net"}
    assert found.files["fc_net"] == "assignment2/cs231n/classifiers/fc_net.py"
    assert "cnn" in found.missing and "layers" not in found.missing


def test_flat_layout_with_classifiers_beside_or_below(tmp_path):
    touch(tmp_path / "layers.py")
    touch(tmp_path / "fc_net.py")
    touch(tmp_path / "classifiers" / "cnn.py")
    found = discover(tmp_path)
    assert found.layout == "flat"
    assert found.root == tmp_path
    assert found.modules == {"layers": "layers", "cnn": "classifiers.cnn", "fc_net": "fc_net"}


def test_the_folder_with_most_classic_files_wins(tmp_path):
    touch(tmp_path / "scratch" / "layers.py")
    for name in ("layers", "optim", "layer_utils"):
        touch(tmp_path / "hw" / f"{name}.py")
    assert discover(tmp_path).root == tmp_path / "hw"


def test_nothing_found(tmp_path):
    touch(tmp_path / "notes" / "readme.py")
    found = discover(tmp_path)
    assert found.layout is None and found.modules == {}
    assert found.missing == list(TOP_MODULES + CLASSIFIER_MODULES)


def test_hidden_folders_and_links_are_not_searched(tmp_path):
    touch(tmp_path / ".ipynb_checkpoints" / "layers.py")
    (tmp_path / "link").symlink_to(tmp_path / ".ipynb_checkpoints")
    assert discover(tmp_path).layout is None
