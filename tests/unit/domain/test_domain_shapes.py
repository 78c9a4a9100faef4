"""Every event, command and value is a frozen, keyword-only, slotted dataclass holding
only immutable, wire-friendly fields; and the domain imports the standard library only."""

import ast
import dataclasses
import sys
from pathlib import Path
from typing import Any, get_type_hints

import pytest

import domain
from domain.commands import ALL_COMMAND_CLASSES
from domain.events import ALL_EVENT_CLASSES, VALUE_CLASSES

MESSAGE_CLASSES = (*ALL_EVENT_CLASSES, *ALL_COMMAND_CLASSES, *VALUE_CLASSES)
DOMAIN_DIR = Path(domain.__file__).parent


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda cls: cls.__name__)
def test_messages_are_frozen_keyword_only_and_slotted(cls: Any) -> None:
    assert dataclasses.is_dataclass(cls)
    assert getattr(cls, "__dataclass_params__").frozen  # noqa: B009 (private to dataclasses)
    assert all(field.kw_only for field in dataclasses.fields(cls))
    assert "__slots__" in cls.__dict__


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda cls: cls.__name__)
def test_message_fields_are_immutable_and_never_floats(cls: Any) -> None:
    for name, hint in get_type_hints(cls).items():
        text = str(hint)
        for banned in ("list", "dict", "set", "float", "Mapping"):
            assert banned not in text, f"{cls.__name__}.{name}: {text}"


def test_message_class_names_are_unique() -> None:
    names = [cls.__name__ for cls in MESSAGE_CLASSES]
    assert len(names) == len(set(names))


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", sorted(DOMAIN_DIR.glob("*.py")), ids=lambda path: path.name)
def test_the_domain_imports_only_the_standard_library(path: Path) -> None:
    outside = imported_roots(path) - set(sys.stdlib_module_names) - {"domain"}
    assert not outside, f"{path.name} imports {sorted(outside)}"
