"""The Textual UI: talks to the manager (``ManagerAPI``) and reacts to its events."""
