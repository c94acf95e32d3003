"""Speed of the fast layers (``layers``) and of whole training steps (``training``), as
ratios against a reference measured in the same process; ``timing`` holds what both share
(best-of-n timing with each candidate run alone, the machine's description)."""
