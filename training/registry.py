"""A name -> value table shared by every registry in ReelRL (advantage estimators, policy losses,
scorers, benchmark adapters, synthetic tasks, tiny model families).

Each registry keeps its own decorator and metadata; this class holds what they all did by hand:

- ``add(name, value, aliases=())`` rejects an empty or non-string name and a name (or alias) that is
  already taken, in one message form: ``<kind> '<name>'[: alias '<alias>'] is already registered
  [ by <module.qualname>][ (taken: '<key>' by '<owner>', ...)]``. A silent replacement would make a run
  use something other than what its config names.
- ``get(name)`` / ``resolve(name)`` raise ``error`` (default ``UnknownNameError``, a ``KeyError``)
  saying ``unknown <kind> '<name>'; <known>: <the sorted names>``.
- ``fold`` (optional) maps a spelling to its lookup key, so e.g. "Multiple_Choice" and
  "multiple choice" are one name; duplicates are judged after folding.

Iterating a registry yields the canonical names in registration order; ``names()`` is sorted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

V = TypeVar("V")


class UnknownNameError(KeyError):
    """A name nobody registered; the message lists the registered ones."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0]) if self.args else ""


class Registry(Generic[V]):
    """Values registered by name. ``kind`` names what is registered, in messages ("policy loss");
    ``known`` labels the list of names in the unknown-name message ("allowed", "known types")."""

    def __init__(
        self,
        kind: str,
        *,
        fold: Callable[[str], str] | None = None,
        error: type[Exception] = UnknownNameError,
        known: str = "known",
    ):
        self.kind = kind
        self.known = known
        self._fold = fold or (lambda name: name)
        self._error = error
        self._values: dict[str, V] = {}
        self._aliases: dict[str, tuple[str, ...]] = {}
        self._lookup: dict[str, str] = {}  # (folded) name or alias -> canonical name

    def check_name(self, name: object) -> str:
        """The lookup key of ``name``; ValueError when it is not a string or folds to nothing."""
        key = self._fold(name) if isinstance(name, str) else None
        if not key:
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")
        return key

    def add(self, name: str, value: V, *, aliases: Iterable[str] = ()) -> V:
        """Register ``value`` as ``name`` (and its ``aliases``); returns ``value``.

        ValueError when a name is empty or taken (spellings that fold together within one call are fine).
        """
        aliases = tuple(aliases)
        keys = [self.check_name(n) for n in (name, *aliases)]
        taken = {key: self._lookup[key] for key in keys if key in self._lookup}
        if taken:
            raise ValueError(self._taken_message(name, aliases, taken))
        self._values[name] = value
        self._aliases[name] = aliases
        for key in keys:
            self._lookup[key] = name
        return value

    def _taken_message(self, name: str, aliases: tuple[str, ...], taken: dict[str, str]) -> str:
        spelling = next(n for n in (name, *aliases) if self._fold(n) in taken)
        subject = repr(name) if spelling == name else f"{name!r}: alias {spelling!r}"
        owner = self._values[taken[self._fold(spelling)]]
        module, qualname = getattr(owner, "__module__", None), getattr(owner, "__qualname__", None)
        where = f" by {module}.{qualname}" if module and qualname else ""
        clashes = [f"{key!r} by {by!r}" for key, by in taken.items() if (key, by) != (name, name)]
        return f"{self.kind} {subject} is already registered{where}" + (
            f" (taken: {', '.join(clashes)})" if clashes else ""
        )

    def remove(self, name: str) -> None:
        """Forget ``name`` and its aliases (tests use this to undo a registration)."""
        canonical = self.resolve(name)
        del self._values[canonical], self._aliases[canonical]
        for key in [key for key, owner in self._lookup.items() if owner == canonical]:
            del self._lookup[key]

    def resolve(self, name: str) -> str:
        """The canonical name of ``name`` (any alias or spelling); ``error`` listing the known names if none."""
        try:
            return self._lookup[self._fold(name)]
        except (KeyError, TypeError, AttributeError):  # a non-string name is simply not registered
            raise self._error(f"unknown {self.kind} {name!r}; {self.known}: {self._listing()}") from None

    def _listing(self) -> str:
        if not self._values:
            return "(none)"
        if any(self._aliases.values()):
            return "; ".join(f"{n} (aliases: {', '.join(self._aliases[n]) or '-'})" for n in self.names())
        return ", ".join(self.names())

    def get(self, name: str) -> V:
        """The value registered as ``name``; ``error`` listing the known names if none."""
        return self._values[self.resolve(name)]

    def aliases(self, name: str) -> tuple[str, ...]:
        """The aliases ``name`` was registered with."""
        return self._aliases[self.resolve(name)]

    def names(self) -> list[str]:
        """Sorted canonical names."""
        return sorted(self._values)

    def items(self) -> list[tuple[str, V]]:
        """``(canonical name, value)`` pairs in registration order."""
        return list(self._values.items())

    def copy(self) -> Registry[V]:
        """An independent registry with the same entries (tests register into a copy)."""
        other: Registry[V] = Registry(self.kind, error=self._error, known=self.known)
        other._fold = self._fold
        other._values, other._aliases, other._lookup = (
            dict(self._values), dict(self._aliases), dict(self._lookup),
        )  # fmt: skip
        return other

    def __contains__(self, name: object) -> bool:
        try:
            self.resolve(name)  # type: ignore[arg-type]
        except self._error:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._values))

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._values)})"
