"""The configuration table of the README and docs/configuration.md, from the settings'
declarations; `python -m whisper_api.settings.table` prints it to paste after a change."""

from __future__ import annotations

from whisper_api.settings.declarations import Settings, rows


def markdown_table() -> str:
    """The configuration table of the README and docs/configuration.md."""
    defaults = Settings.from_environ({})
    lines = ["| variable | meaning | values | default |", "|---|---|---|---|"]
    for name, row in rows():
        shown = row.shown or _shown(getattr(defaults, name))
        lines.append(f"| `{row.variable}` | {row.meaning} | {row.accepts()} | {shown} |")
    return "\n".join(lines) + "\n"


def _shown(default: object) -> str:
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return f"`{int(default)}`"
    if isinstance(default, frozenset | tuple) and not default:
        return "empty"
    return f"`{default}`"


if __name__ == "__main__":
    print(markdown_table(), end="")
