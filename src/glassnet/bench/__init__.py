"""Speed of the fast layers and of whole training steps, as ratios measured in one process."""
