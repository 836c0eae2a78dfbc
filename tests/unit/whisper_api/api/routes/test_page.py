"""The web page's files: the ES modules it loads as they are, and the allow-list that serves
them (whisper_api.api.contract.PAGE_MODULES)."""

from __future__ import annotations

import re

from whisper_api.api.contract import PAGE_MODULES
from whisper_api.api.routes.page import STATIC_DIR

IMPORT = re.compile(r'^import \{[\w$, ]+\} from "\./([\w.]+)";$', re.MULTILINE)


def test_every_module_the_page_imports_is_served_and_every_served_one_is_used() -> None:
    """With no build step, an import the allow-list lacks fails in the browser, and a module
    nothing imports is served for nothing."""
    modules = {path.name: path.read_text() for path in (STATIC_DIR / "js").glob("*.js")}
    imported = {"main.js"}  # index.html loads it
    for text in modules.values():
        imported |= set(IMPORT.findall(text))
    assert '<script type="module" src="/js/main.js"></script>' in (STATIC_DIR / "index.html").read_text()
    assert imported == set(PAGE_MODULES) == set(modules)


def test_each_module_imports_only_what_the_other_exports() -> None:
    modules = {path.name: path.read_text() for path in (STATIC_DIR / "js").glob("*.js")}
    exported = {
        name: set(re.findall(r"^export (?:async )?(?:function|class|const) ([\w$]+)", text, re.MULTILINE))
        for name, text in modules.items()
    }
    wrong = [
        (name, source, wanted)
        for name, text in modules.items()
        for names, source in re.findall(r'^import \{([\w$, ]+)\} from "\./([\w.]+)";$', text, re.MULTILINE)
        for wanted in (part.strip() for part in names.split(","))
        if wanted not in exported[source]
    ]
    assert len(exported["api.js"]) > 3
    assert wrong == []
