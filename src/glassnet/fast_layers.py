"""The classic path of the fast convolution and pooling layers.

The code lives in :mod:`glassnet.fast.conv` and :mod:`glassnet.fast.pool`; exercise
notebooks import it from here."""
from glassnet.fast.conv import conv_backward_fast, conv_forward_fast
from glassnet.fast.pool import max_pool_backward_fast, max_pool_forward_fast

__all__ = ["conv_forward_fast", "conv_backward_fast", "max_pool_forward_fast",
           "max_pool_backward_fast"]
