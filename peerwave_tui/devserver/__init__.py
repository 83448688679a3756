"""A PeerWave-compatible development server (aiohttp + python-socketio + SQLite).

It never imports client code: each side can be doubted without trusting the other.
"""
