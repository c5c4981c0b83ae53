"""Public functions are plain functions, named apart from the modules that define them.

A function exported under its own module's name is shadowed by that module as soon as the module is
imported (``from pkg.name import X`` rebinds ``pkg.name``); these tests import the defining module
first, then read the package attribute.
"""

from __future__ import annotations

import importlib
import types

import cfglang


def test_resolve_is_the_function_after_its_module_is_imported() -> None:
    module = importlib.import_module("cfglang.planner")
    assert isinstance(cfglang.resolve, types.FunctionType)
    assert cfglang.resolve is module.resolve
    assert type(module) is types.ModuleType
    assert not callable(module)
