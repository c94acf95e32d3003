"""The fast path: the classic layers' maths vectorised - im2col convolutions (``conv``),
strided pooling (``pool``), fused normalisation (``norm``), ReLU (``relu``) and affine
(``affine``) - with their thread pool (``threads``), scratch buffers (``scratch``) and the
process settings the command line applies (``process``).

Every function here equals its naive twin in ``glassnet.layers`` (float64, to about 1e-12);
the classic path ``glassnet.fast_layers`` re-exports the convolution and pooling layers."""
