"""The decoder's errors: one tree, and each class raised where its module says."""

from __future__ import annotations

import ast
from pathlib import Path

import decoder
from decoder import errors

SOURCE = Path(decoder.__file__).parent
# Control flow inside the service, never a failure anyone hears of.
CONTROL_FLOW = {"_Cancelled", "QueueClosed"}


def test_every_exception_the_decoder_defines_is_in_the_tree() -> None:
    defined = {
        node.name: path.relative_to(SOURCE).as_posix()
        for path in SOURCE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
        and any(isinstance(base, ast.Name) and base.id == "Exception" for base in node.bases)
    }
    assert {name: where for name, where in defined.items() if name not in CONTROL_FLOW} == {
        "DecoderError": "errors.py"
    }


def test_what_a_client_may_read_is_a_task_error() -> None:
    readable = {errors.TaskError, errors.AudioError, errors.EncoderMissing, errors.BadReference}
    for kind in vars(errors).values():
        if isinstance(kind, type) and issubclass(kind, errors.DecoderError):
            assert issubclass(kind, errors.TaskError) == (kind in readable), kind
