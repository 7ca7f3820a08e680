"""The component in wasmtime-py: compiled once per ``Runtime``, one store and instance per object.

Everything that knows wasmtime-py's component API (ABI names, ``Record``, ``Variant``,
``ResourceAny``, traps) stays in this module and ``_convert``.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any, Dict, Optional, Union

import wasmtime
from wasmtime import component as wc

from .errors import BreakwaterError, ComponentTrap, ConfigError, Problem

PACKAGE = "breakwater:resilience"
VERSION = "0.1.0"


class Runtime:
    """The compiled component and a linker with WASI preview 2: compile once, instantiate often.

    ``path`` is the component file; without it, ``$BREAKWATER_COMPONENT``. Most programs use
    ``Runtime.default()``; several runtimes are only needed for several component files.
    """

    _default: Optional["Runtime"] = None
    _default_lock = threading.Lock()

    def __init__(self, path: Optional[str] = None):
        path = path or os.environ.get("BREAKWATER_COMPONENT")
        if not path:
            raise BreakwaterError(
                "no component: pass Runtime(path) or set BREAKWATER_COMPONENT to the "
                "breakwater_core.wasm built for wasm32-wasip2 (see wit/README.md)")
        if not os.path.isfile(path):
            raise BreakwaterError(f"component {path!r} is not a file")
        self.path = path
        self._engine = wasmtime.Engine()
        try:
            self._component = wc.Component.from_file(self._engine, path)
        except wasmtime.WasmtimeError as e:
            raise BreakwaterError(f"{path}: not a loadable component: {e}") from e
        self._linker = wc.Linker(self._engine)
        self._linker.add_wasip2()

    @classmethod
    def default(cls) -> "Runtime":
        """The process-wide runtime over ``$BREAKWATER_COMPONENT``, built on first use."""
        with cls._default_lock:
            if cls._default is None:
                cls._default = cls()
            return cls._default

    def _instance(self, interface: str) -> "_Instance":
        return _Instance(self, interface)


class _Instance:
    """One store and instance, and one exported interface's functions by WIT name."""

    def __init__(self, runtime: Runtime, interface: str):
        self.store = wasmtime.Store(runtime._engine)
        # Without a WASI context, a wasi:random draw aborts the process (see the package doc).
        self.store.set_wasi(wasmtime.WasiConfig())
        self.instance = runtime._linker.instantiate(self.store, runtime._component)
        name = f"{PACKAGE}/{interface}@{VERSION}"
        self.interface = self.instance.get_export_index(self.store, name)
        if self.interface is None:
            raise BreakwaterError(f"{runtime.path} does not export {name}")
        self.funcs: Dict[str, wc.Func] = {}
        self.dead = False

    def call(self, name: str, *args: Any) -> Any:
        if self.dead:
            raise ComponentTrap("this object's component instance trapped earlier")
        func = self.funcs.get(name)
        if func is None:
            index = self.instance.get_export_index(self.store, name, self.interface)
            func = None if index is None else self.instance.get_func(self.store, index)
            if func is None:
                raise BreakwaterError(f"the component has no function {name}")
            self.funcs[name] = func
        try:
            return func(self.store, *args)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as e:
            self.dead = True
            raise ComponentTrap(f"{name}: {e}") from e


class _Resource:
    """A resource of the component in its own instance: the base of the public classes."""

    _interface = ""
    _resource = ""

    def __init__(self, runtime: Optional[Runtime], *ctor_args: Any):
        self._inst = (runtime or Runtime.default())._instance(self._interface)
        created: Any = self._inst.call(f"[constructor]{self._resource}", *ctor_args)
        if isinstance(created, wc.Record):  # result<own, config-error>: the error record
            error: Any = created
            raise ConfigError([Problem(p.path, p.reason) for p in error.problems])
        self._handle: Optional[wc.ResourceAny] = created

    def _call(self, method: str, *args: Any) -> Any:
        if self._handle is None:
            raise BreakwaterError(f"{type(self).__name__} is closed")
        return self._inst.call(f"[method]{self._resource}.{method}", self._handle, *args)

    def close(self) -> None:
        """Drops the resource inside the component; the object is unusable afterwards."""
        if self._handle is not None and not self._inst.dead:
            self._handle.drop(self._inst.store)
        self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _seed(seed: Optional[int]) -> Optional[int]:
    if seed is not None and not 0 <= seed < 2 ** 64:
        raise ValueError(f"seed must be a u64, got {seed}")
    return seed


def _nanos(now: int) -> int:
    if not isinstance(now, int) or not 0 <= now < 2 ** 64:
        raise ValueError(f"now must be integer nanoseconds in [0, 2**64), got {now!r}")
    return now


def _config_text(config: Union[str, dict]) -> str:
    if isinstance(config, dict):
        return json.dumps(config)
    if not isinstance(config, str):
        raise TypeError(f"config must be JSON text or a dict, got {type(config).__name__}")
    return config
