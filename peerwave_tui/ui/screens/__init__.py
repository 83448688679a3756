"""Screens: the main screen and the dialogs (one per module)."""
