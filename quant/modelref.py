"""``package.module:factory``: how the command line names a model.

The factory is a callable taking no arguments and returning an ``nn.Module``.
The current directory is importable, as with ``python -m``. Every failure is a
:class:`ModelRefError` with a one-line message that says what to fix.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["ModelRefError", "import_factory", "load_model"]


class ModelRefError(ValueError):
    """A model reference that cannot be imported, called or used."""


def import_factory(ref: str) -> Callable[[], Any]:
    """The callable named by ``package.module:factory`` (``factory`` may be dotted: ``mod:Cls.build``)."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ModelRefError(f"found `{ref}` for the model, expected `package.module:factory`")
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ModelRefError(f"cannot import `{module_name}`: no module named `{exc.name}` "
                                f"(is the current directory the one that holds it?)") from None
        raise ModelRefError(f"importing `{module_name}` failed: {type(exc).__name__}: {exc}") from None
    except Exception as exc:  # the user's module raised while importing
        raise ModelRefError(f"importing `{module_name}` failed: {type(exc).__name__}: {exc}") from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            names = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n, None))]
            shown = ", ".join(f"`{n}`" for n in names[:8]) or "none"
            raise ModelRefError(f"`{module_name}` has no `{attr}` (its callables: {shown})")
        target = getattr(target, part)
    if not callable(target):
        raise ModelRefError(f"`{ref}` is a `{type(target).__name__}`, expected a callable returning a model")
    return target


def load_model(ref: str) -> Any:
    """Import the factory named by ``ref``, call it, and check that it returned an ``nn.Module``."""
    import torch

    factory = import_factory(ref)
    try:
        model = factory()
    except TypeError as exc:
        raise ModelRefError(f"calling `{ref}()` failed: {exc} (the factory must take no arguments)") from None
    except Exception as exc:
        raise ModelRefError(f"calling `{ref}()` failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(model, torch.nn.Module):
        raise ModelRefError(f"`{ref}()` returned a `{type(model).__name__}`, expected a `torch.nn.Module`")
    return model
