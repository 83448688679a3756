"""peerwave-tui: a keyboard-driven terminal client for PeerWave chat servers."""

import logging

__version__ = "0.1.0"

# The standard library idiom for packages: without a handler anywhere, logging's
# last-resort handler would print our warnings on the terminal (over the TUI).
logging.getLogger(__name__).addHandler(logging.NullHandler())
