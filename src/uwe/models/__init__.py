"""Encoder, pooling, scoring heads and losses of UWE."""
