"""glassnet.grade: grade a student's implementation of the classic API against glassnet.

``grade_submission(path, rubric=None, limits=None)`` finds the classic modules in a folder,
runs each suite of checks on them in a sandboxed child process, and returns a dict in
Gradescope's ``results.json`` format; ``load_rubric(path)`` reads a rubric (TOML);
``DEFAULT_LIMITS`` are the child processes' limits.
"""
from glassnet.grade.rubric import Rubric, load_rubric
from glassnet.grade.runner import grade_submission
from glassnet.grade.sandbox import DEFAULT_LIMITS

__all__ = ["grade_submission", "load_rubric", "DEFAULT_LIMITS", "Rubric"]
