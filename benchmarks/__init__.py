"""peerwave-tui's benchmark suite: ``python -m benchmarks [--quick] [--json FILE]``.

Throughput, latency, scale and start-up of the real client against real dev servers
on 127.0.0.1, each figure with its own baseline measured in the same run. Figures are
reported, never asserted: see docs/performance.md for the method and the results.
"""
