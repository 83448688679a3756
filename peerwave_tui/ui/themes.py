"""Themes: ``textual.theme.Theme`` objects (colours) and the ``.tcss`` files (look).

The ``.tcss`` files live in the repository's top-level ``themes/`` directory; the wheel
force-includes that directory as ``peerwave_tui/themes/``. The loader looks inside the
installed package first and falls back to the repository (editable installs). Styles use
theme variables only (``$primary``, ``$error``, ...), so every theme, ours or Textual's
built-in ones, renders the whole UI.
"""

from __future__ import annotations

import logging
from pathlib import Path, PurePath

from textual.theme import Theme

log = logging.getLogger(__name__)

BASE_STYLESHEET = "peerwave.tcss"

PEERWAVE_THEMES: tuple[Theme, ...] = (
    Theme(
        name="peerwave-dark",
        primary="#4F9BD9",
        secondary="#7A6FD0",
        accent="#E8A33D",
        warning="#E8A33D",
        error="#E0565B",
        success="#5DBB78",
        foreground="#DDE3EA",
        background="#14181D",
        surface="#1B2027",
        panel="#232A33",
        dark=True,
    ),
    Theme(
        name="peerwave-light",
        primary="#1F6FB2",
        secondary="#5A4FB8",
        accent="#B86A00",
        warning="#A65F00",
        error="#B3262C",
        success="#2E7D46",
        foreground="#1D232A",
        background="#F6F7F9",
        surface="#FFFFFF",
        panel="#E6EAEF",
        dark=False,
    ),
    Theme(
        name="peerwave-high-contrast",
        primary="#00BFFF",
        secondary="#FFFFFF",
        accent="#FFFF00",
        warning="#FFFF00",
        error="#FF4040",
        success="#00FF00",
        foreground="#FFFFFF",
        background="#000000",
        surface="#000000",
        panel="#1A1A1A",
        dark=True,
        luminosity_spread=0.3,
        text_alpha=1.0,
    ),
)

THEME_NAMES: tuple[str, ...] = tuple(theme.name for theme in PEERWAVE_THEMES)


def themes_dir(package_root: Path | None = None) -> Path | None:
    """Where the ``.tcss`` files are: inside the installed package, else the repository."""
    if package_root is None:
        package_root = Path(__file__).resolve().parent.parent  # peerwave_tui/
    for candidate in (package_root / "themes", package_root.parent / "themes"):
        if (candidate / BASE_STYLESHEET).is_file():
            return candidate
    return None


def stylesheet_paths(package_root: Path | None = None) -> list[str | PurePath]:
    """Every ``.tcss`` file, the base stylesheet first, then the others by name."""
    directory = themes_dir(package_root)
    if directory is None:
        log.warning("no themes directory found; the UI uses Textual's default look")
        return []
    others = sorted(path for path in directory.glob("*.tcss") if path.name != BASE_STYLESHEET)
    return [directory / BASE_STYLESHEET, *others]
