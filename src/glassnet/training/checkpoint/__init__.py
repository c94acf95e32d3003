"""Solver checkpoints: what one holds and how it is checked (``state``), its fields
(``fields``), the files' names on disk (``files``) and which one a run resumes from
(``search``)."""
from glassnet.training.checkpoint.files import (epoch_checkpoint_path, latest_checkpoint_path,
                                                remove_stale_temp_files)
from glassnet.training.checkpoint.search import (CheckpointSearch, find_latest_checkpoint,
                                                 search_checkpoints)
from glassnet.training.checkpoint.state import (CHECKPOINT_FORMAT, CHECKPOINT_VERSION,
                                                CheckpointState, RandomStreamState)

__all__ = ["CheckpointState", "RandomStreamState", "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION",
           "search_checkpoints", "find_latest_checkpoint", "CheckpointSearch",
           "epoch_checkpoint_path", "latest_checkpoint_path", "remove_stale_temp_files"]
