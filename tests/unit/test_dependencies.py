"""Installed dependencies are the ones the project was built and tested with."""

from __future__ import annotations

from importlib.metadata import version

from packaging.version import Version


def test_protobuf_is_not_a_prerelease() -> None:
    # python-axolotl's "protobuf>=3.0.0.b2" lets pip choose release candidates; our
    # upper bound must keep them out.
    installed = Version(version("protobuf"))
    assert not installed.is_prerelease, f"protobuf {installed} is a pre-release"


def test_textual_is_the_pinned_version() -> None:
    # Snapshots and the ESC+digit key fix depend on this exact version.
    assert version("textual") == "8.2.8"


def test_keyrings_alt_is_not_a_dependency() -> None:
    from importlib.metadata import PackageNotFoundError, requires

    deps = " ".join(requires("peerwave-tui") or [])
    assert "keyrings.alt" not in deps and "keyrings-alt" not in deps
    try:
        version("keyrings.alt")
    except PackageNotFoundError:
        return
    raise AssertionError("keyrings.alt is installed: it would become the default keyring")
