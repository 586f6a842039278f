"""The Hypothesis entry point: ``st.from_type`` knows ikesim's public types once ikesim is installed.

Hypothesis runs the hook while it is being imported, in every process that imports it, ikesim
used or not: the hook imports nothing of ikesim. Each type is registered when its module has been
imported (at once if it already is), through a post-import hook on the module's loader. The types:
``Scenario``, ``CodeInfo``, ``Trace``, ``Outcome``, every fault kind (so ``sim.faults.Fault``,
their union, too), ``Policy`` and ``Proposal``; the fixture forms register themselves when
``sim.testing.strategies`` is imported.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

# module -> the public types it defines, each with the strategy of sim.testing.strategies that draws it
TYPES = {
    "sim.scenario": (("Scenario", "scenarios"),),
    "sim.codes": (("CodeInfo", "codes"),),
    "sim.trace": (("Trace", "runs"), ("Outcome", "outcomes")),
    "sim.faults": (("FaultModel", "faults"),),  # and each kind of FAULT_KINDS: see _register
    "sim.protocol.policy": (("Policy", "policies"), ("Proposal", "proposals")),
}


def _lazy(name: str, **arguments: Any) -> Callable[[type], Any]:
    """A strategy resolver that imports ``sim.testing.strategies`` only when the type is first drawn."""

    def resolve(_: type) -> Any:
        from sim.testing import strategies

        return getattr(strategies, name)(**arguments)

    return resolve


def _register(module: ModuleType) -> None:
    from hypothesis import strategies as st

    for type_name, strategy in TYPES[module.__name__]:
        st.register_type_strategy(getattr(module, type_name), _lazy(strategy))
    for kind, cls in getattr(module, "FAULT_KINDS", {}).items():  # sim.faults: each kind draws faults of it
        st.register_type_strategy(cls, _lazy("faults", kinds=(kind,)))


class _RegisteringLoader(importlib.abc.Loader):
    """The module's own loader, and then the registration (a wrapper: loaders are shared between modules)."""

    def __init__(self, inner: importlib.abc.Loader) -> None:
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        _register(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _AfterImport(importlib.abc.MetaPathFinder):
    """Registers a type once the real loader has executed its module."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in TYPES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                spec.loader = _RegisteringLoader(spec.loader)
                return spec
        return None


def _hypothesis_setup_hook() -> None:
    """Register strategies for ikesim's public types, now or when their modules are imported."""
    waiting = False
    for name in TYPES:
        module = sys.modules.get(name)
        if module is not None and hasattr(module, TYPES[name][0][0]):
            _register(module)
        else:
            waiting = True
    if waiting and not any(isinstance(f, _AfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport())
