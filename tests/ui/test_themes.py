"""Themes: Theme objects, the .tcss files, and a choice that persists."""

from __future__ import annotations

from pathlib import Path

from peerwave_tui.settings import Settings
from peerwave_tui.ui.commands import ThemeCommands
from peerwave_tui.ui.themes import BASE_STYLESHEET, THEME_NAMES, stylesheet_paths, themes_dir
from tests.ui.conftest import started, until
from tests.ui.worlds import three_servers

REPO_THEMES = Path(__file__).resolve().parents[2] / "themes"


def test_the_stylesheets_are_found_base_first() -> None:
    directory = themes_dir()
    assert directory is not None
    paths = stylesheet_paths()
    assert paths[0].name == BASE_STYLESHEET
    assert {path.name for path in paths} == {path.name for path in REPO_THEMES.glob("*.tcss")}


def test_the_installed_package_wins_over_the_repository(tmp_path: Path) -> None:
    package = tmp_path / "site" / "peerwave_tui"
    repo_themes = tmp_path / "site" / "themes"
    for directory in (package / "themes", repo_themes):
        directory.mkdir(parents=True)
        (directory / BASE_STYLESHEET).write_text("Screen {}\n")
    (package / "themes" / "extra.tcss").write_text("Screen {}\n")
    assert themes_dir(package) == package / "themes"  # a wheel: peerwave_tui/themes/
    assert [p.name for p in stylesheet_paths(package)] == [BASE_STYLESHEET, "extra.tcss"]
    (package / "themes" / BASE_STYLESHEET).unlink()
    assert themes_dir(package) == repo_themes  # an editable install: the repository's
    (repo_themes / BASE_STYLESHEET).unlink()
    assert themes_dir(package) is None and stylesheet_paths(package) == []


def test_at_least_dark_light_and_high_contrast() -> None:
    assert {"peerwave-dark", "peerwave-light", "peerwave-high-contrast"} <= set(THEME_NAMES)


async def test_switching_theme_persists_to_config_toml(build_app, memory, paths, settings) -> None:
    three_servers(memory)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app, pilot)
        assert app.theme == "peerwave-dark"
        for name in THEME_NAMES:
            assert name in app.available_themes
        app.theme = "peerwave-light"
        await until(pilot, lambda: paths.config_file.exists(), "config written")
        assert Settings.load(paths.config_file).theme == "peerwave-light"
        assert not app.current_theme.dark


async def test_the_palette_lists_our_themes_first_and_switches(build_app, memory, paths) -> None:
    three_servers(memory)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app, pilot)
        provider = ThemeCommands(app.screen)
        commands = list(provider.commands())
        assert [text for text, _help, _run in commands[:3]] == [
            "Theme: peerwave-dark (current)",
            "Theme: peerwave-high-contrast",
            "Theme: peerwave-light",
        ]
        commands[1][2]()  # choose high contrast
        await until(pilot, lambda: app.theme == "peerwave-high-contrast")
        await until(
            pilot,
            lambda: (
                paths.config_file.exists()
                and Settings.load(paths.config_file).theme == "peerwave-high-contrast"
            ),
        )


async def test_a_saved_theme_is_used_and_an_unknown_one_falls_back(build_app, settings) -> None:
    settings.theme = "peerwave-high-contrast"
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app, pilot)
        assert app.theme == "peerwave-high-contrast"
        view = app.main  # the high-contrast stylesheet applies only under its theme
        assert "-theme-peerwave-high-contrast" in app.classes
        assert view is not None
    settings.theme = "no-such-theme"
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app, pilot)
        assert app.theme == "peerwave-dark"


async def test_high_contrast_changes_how_failed_messages_look(build_app, memory) -> None:
    account = memory.add_account("Alpha", port=3001)
    memory.add_conversation(account, "u-alice", "Alice", messages=2)
    app = build_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app, pilot)
        app.main.open_conversation(account.account_id, "u-alice")
        view = app.main.active_pane.message_view
        await until(pilot, lambda: len(view.messages) == 2)
        normal = view.get_visual_style("message-view--failed")
        assert not normal.underline
        app.theme = "peerwave-high-contrast"
        await until(pilot, lambda: view.get_visual_style("message-view--failed").underline)

        def text_colours() -> set[str]:
            colours = set()
            for y in range(view.size.height):
                for segment in view.render_line(y):
                    if "message number" in segment.text and segment.style is not None:
                        colours.add(segment.style.color.triplet.hex)
            return colours

        # Lines drawn before the switch are redrawn in the new theme's colours.
        await until(pilot, lambda: text_colours() == {"#ffffff"}, "redrawn")
