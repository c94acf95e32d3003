"""Where the suite's files are: the tests folder (its shared helpers and child scripts live
at its top) and the repository root (src, examples, notebooks, docs)."""
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent
ROOT = TESTS_DIR.parent
