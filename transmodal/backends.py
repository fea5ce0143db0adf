"""Backends are small classes picked by name from an executor's `with: backend: NAME`.

Each executor keeps one `Registry`; adding a backend is one class plus a `@registry.register("name")`.
Backends are imported lazily by their own modules' imports, so an executor only pays for the one it uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from transmodal.errors import ConfigurationError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def add(factory: Callable[..., T]) -> Callable[..., T]:
            self._factories[name] = factory
            return factory

        return add

    @property
    def names(self) -> list[str]:
        return sorted(self._factories)

    def create(self, name: str, **options: Any) -> T:
        if name not in self._factories:
            raise ConfigurationError(f"unknown {self.kind} backend {name!r}; choose one of: {', '.join(self.names)}")
        return self._factories[name](**options)
