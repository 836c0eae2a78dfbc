"""The server's settings: one frozen object, built once from the environment after `.env`.

Each setting is declared once, as a field of Settings with its row: its variable, type,
default, what it accepts and what it means. The reader, the configuration table of the README
and docs/configuration.md (`python -m whisper_api.settings.table` prints it; a test keeps the
documents equal to it) and the checks of nix/module.nix all come from these declarations.

    declarations  Settings and its reader (from_environ, load_settings), SettingsError
    rows          how a setting is declared: setting(variable, default, kind, meaning)
    kinds         what each kind of setting accepts: a parser, and the words for it
    logs          the log settings, a group of their own that Settings extends
    rules         values valid each on its own but not together
    table         the configuration table, from the rows
"""

from whisper_api.settings.declarations import Settings, SettingsError, load_settings, rows

__all__ = ["Settings", "SettingsError", "load_settings", "rows"]
