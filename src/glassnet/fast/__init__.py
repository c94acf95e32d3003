"""The fast path: the classic layers' maths vectorised (im2col convolutions, strided pooling, fused normalisation), their thread pool and scratch buffers."""
