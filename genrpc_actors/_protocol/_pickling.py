"""The picklers and the unpickler that messages use, kept out of the modules compiled with
mypyc (``genrpc_actors._compiled``): these subclass pickle's own C types, which a compiled class
cannot, and ``Inert`` is made by unpickling, which a compiled class does not support."""

from __future__ import annotations

import io
import pickle
import types
from collections.abc import Callable
from typing import Any, Final

__all__ = ["MAIN_MODULES", "ByValue", "Inert", "RefusedGlobal", "Restricted", "names_main"]

# A script's own module: a function or class defined there exists in no other process under that
# name (the receiving node's __main__ is another program), so it travels by value (dill).
MAIN_MODULES: Final = frozenset({"__main__", "__mp_main__"})


class ByValue(Exception):  # noqa: N818 - a signal, not an error
    """The value names a global of a script's main module: pickle it by value."""


class _MainFinder(pickle.Pickler):
    """A pickler that raises ``ByValue`` at the first function or class of a main module."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, type | types.FunctionType) and obj.__module__ in MAIN_MODULES:
            raise ByValue
        return NotImplemented


def names_main(value: Any) -> bool:
    """Whether pickling ``value`` names a function or class of a main module (the bytes held
    the text ``__main__``; most such values are plain strings that say it)."""
    try:
        _MainFinder(io.BytesIO(), protocol=5, buffer_callback=lambda _: None).dump(value)
    except ByValue:
        return True
    return False


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle named a global that the receiver's whitelist does not allow."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"refused global {module}.{name}")
        self.module, self.name = module, name


class Inert:
    """What a refused global decodes as when the decoder is told to go on (``inert=True``): it
    takes any arguments and any state, and does nothing with them."""

    __slots__ = ("refused",)

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        self.refused = ""

    def __setstate__(self, _state: Any) -> None:
        pass

    def __repr__(self) -> str:
        return f"<Inert {self.refused}>"


class Restricted(pickle.Unpickler):
    """An unpickler that resolves only the globals ``allowed(module, name)`` accepts."""

    def __init__(
        self, data: Any, allowed: Callable[[str, str], bool], inert: bool, **kwargs: Any
    ) -> None:
        super().__init__(io.BytesIO(data), **kwargs)
        self._allowed, self._inert = allowed, inert

    def find_class(self, module: str, name: str) -> Any:
        if not self._allowed(module, name):
            if self._inert:
                return Inert
            raise RefusedGlobal(module, name)
        return super().find_class(module, name)
