"""peerwave-tui: a keyboard-driven terminal client for PeerWave chat servers."""

__version__ = "0.1.0"
