"""glassnet.layers: every layer as a pure pair ``X_forward(...) -> (out, cache)`` and
``X_backward(dout, cache) -> grads``. ``from glassnet.layers import *`` gives them all."""
from .affine import *  # noqa: F401,F403
from .activations import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .groupnorm import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403

from . import affine, activations, losses, dropout, normalization, groupnorm, conv, pooling

__all__ = (affine.__all__ + activations.__all__ + losses.__all__ + dropout.__all__
           + normalization.__all__ + groupnorm.__all__ + conv.__all__ + pooling.__all__)
