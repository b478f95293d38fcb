"""Audio I/O at the edges: decode, probe, write, images."""
