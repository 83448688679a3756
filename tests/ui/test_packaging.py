"""The themes travel with the package: a built wheel holds ``peerwave_tui/themes/*.tcss``
and the theme loader finds them in the installed package; the editable install of the
development venv finds the repository's ``themes/``."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
THEMES = sorted(p.name for p in (REPO / "themes").glob("*.tcss"))

PROBE = """
import json, peerwave_tui
from peerwave_tui.ui.themes import stylesheet_paths, themes_dir
print(json.dumps({"package": peerwave_tui.__file__, "dir": str(themes_dir()),
                  "sheets": [str(p) for p in stylesheet_paths()]}))
"""


def _probe(cwd: Path, pythonpath: str | None) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found: dict[str, object] = json.loads(result.stdout)
    return found


def test_a_built_wheel_ships_the_themes_and_the_installed_app_finds_them(tmp_path) -> None:
    assert "peerwave.tcss" in THEMES and len(THEMES) >= 2
    dist = tmp_path / "dist"
    # With the build backend at hand, build offline; else let build fetch it.
    isolation = [] if importlib.util.find_spec("hatchling") is None else ["--no-isolation"]
    build = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", *isolation, "--outdir", str(dist)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = dist.glob("peerwave_tui-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        for name in THEMES:
            shipped = archive.read(f"peerwave_tui/themes/{name}")
            assert shipped == (REPO / "themes" / name).read_bytes(), name

    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--target", str(site), str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]
    found = _probe(tmp_path, str(site))
    assert Path(str(found["package"])).is_relative_to(site)  # the installed copy, not the repo
    assert Path(str(found["dir"])) == site / "peerwave_tui" / "themes"
    sheets = [Path(p) for p in found["sheets"]]  # type: ignore[union-attr]
    assert [p.name for p in sheets] == [
        "peerwave.tcss",
        *[t for t in THEMES if t != "peerwave.tcss"],
    ]
    assert all(p.is_relative_to(site) and p.is_file() for p in sheets)


def test_the_editable_install_finds_the_repository_themes(tmp_path) -> None:
    dist_info = next(
        Path(p) / "peerwave_tui-0.1.0.dist-info"
        for p in sys.path
        if (Path(p) / "peerwave_tui-0.1.0.dist-info").is_dir()
    )
    direct_url = json.loads((dist_info / "direct_url.json").read_text(encoding="utf-8"))
    assert direct_url.get("dir_info", {}).get("editable") is True, "the dev venv is editable"
    found = _probe(tmp_path, None)  # run from elsewhere: the install decides, not the cwd
    assert Path(str(found["package"])) == REPO / "peerwave_tui" / "__init__.py"
    assert Path(str(found["dir"])) == REPO / "themes"
    assert [Path(p).name for p in found["sheets"]][0] == "peerwave.tcss"  # type: ignore[union-attr]
