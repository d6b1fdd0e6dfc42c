"""Typed reads from parsed JSON that name the file and key when something is wrong.

A result document comes from another machine and another program; whatever is wrong with
it must come back as one line pointing at the key ("cases[3].verdict: must be a string"),
never as a KeyError traceback from deep inside a table.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeGuard

from reports.errors import UserError


def is_int(value: object) -> TypeGuard[int]:
    """An integer, and not a bool: JSON `true` must not pass for 1."""
    return isinstance(value, int) and not isinstance(value, bool)


class CheckedObject:
    """A JSON object being read, knowing its file and its place in it."""

    def __init__(self, value: object, file: Path, where: str = "") -> None:
        if not isinstance(value, dict):
            raise UserError(f"{file}: {where or 'top level'}: must be a JSON object")
        self._value: dict[str, object] = value
        self._file = file
        self._where = where

    def place(self, key: str) -> str:
        return f"{self._where}.{key}" if self._where else key

    def invalid(self, key: str, problem: str) -> UserError:
        return UserError(f"{self._file}: {self.place(key)}: {problem}")

    def keys(self) -> list[str]:
        return list(self._value)  # in the writer's order

    def value(self, key: str, *, nullable: bool = False) -> object:
        # A nullable key may also be left out; any other key must be there, and not null.
        found = self._value.get(key)
        if found is None and not nullable:
            missing = key not in self._value
            raise self.invalid(key, "missing required key" if missing else "must not be null")
        return found

    def text(self, key: str) -> str:
        found = self.value(key)
        if not isinstance(found, str):
            raise self.invalid(key, "must be a string")
        return found

    def optional_text(self, key: str) -> str | None:
        found = self.value(key, nullable=True)
        if found is not None and not isinstance(found, str):
            raise self.invalid(key, "must be a string or null")
        return found

    def integer(self, key: str) -> int:
        found = self.value(key)
        if not is_int(found):
            raise self.invalid(key, "must be an integer")
        return found

    def optional_integer(self, key: str) -> int | None:
        found = self.value(key, nullable=True)
        if found is not None and not is_int(found):
            raise self.invalid(key, "must be an integer")
        return found

    def optional_number(self, key: str) -> float | None:
        found = self.value(key, nullable=True)
        if found is None:
            return None
        if not (is_int(found) or isinstance(found, float)):
            raise self.invalid(key, "must be a number")
        return float(found)

    def number(self, key: str) -> float:
        self.value(key)  # refuses missing or null
        found = self.optional_number(key)
        assert found is not None
        return found

    def child(self, key: str) -> CheckedObject:
        return CheckedObject(self.value(key), self._file, self.place(key))

    def children(self, key: str) -> list[CheckedObject]:
        """A list of objects, each knowing its index for messages (`cases[3]`)."""
        where = self.place(key)
        return [
            CheckedObject(item, self._file, f"{where}[{index}]")
            for index, item in enumerate(self.items(key))
        ]

    def items(self, key: str) -> list[object]:
        found = self.value(key)
        if not isinstance(found, list):
            raise self.invalid(key, "must be a list")
        return found

    def integers(self, key: str) -> tuple[int, ...]:
        numbers = []
        for item in self.items(key):
            if not is_int(item):
                raise self.invalid(key, "must be a list of integers")
            numbers.append(item)
        return tuple(numbers)

    def strings(self, key: str) -> tuple[str, ...]:
        found = self.items(key)
        if not all(isinstance(item, str) for item in found):
            raise self.invalid(key, "must be a list of strings")
        return tuple(str(item) for item in found)

    def optional_counts(self, key: str) -> dict[str, int] | None:
        """An object of names to integers (`run.children`), or None when left out or null."""
        if self.value(key, nullable=True) is None:
            return None
        counts = self.child(key)
        return {name: counts.integer(name) for name in counts.keys()}

    def node_map(self, key: str) -> dict[int, int]:
        """An object keyed by node id (a string, as JSON keys are) whose values are integers."""
        mapping: dict[int, int] = {}
        for node, count in self.child(key)._value.items():
            if not (node.isascii() and node.isdigit() and is_int(count)):
                raise self.invalid(key, "must map node ids to integers")
            mapping[int(node)] = count
        return mapping
