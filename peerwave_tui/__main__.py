"""`python -m peerwave_tui` runs the same command line as `peerwave-tui`."""

import sys

from peerwave_tui.cli import main

if __name__ == "__main__":
    sys.exit(main())
