"""How the command line names a model: ``package.module:factory`` or a program file.

The factory is a callable taking no arguments and returning an ``nn.Module``.
The current directory is importable, as with ``python -m``. A reference that
names an existing file, or ends in ``.pt2``, is a ``torch.export`` program
(written by ``torch.export.save``): it gives the graph, so a layer inventory,
but not the ``nn.Module`` that quantization works on. Every failure is a
:class:`ModelRefError` with a one-line message that says what to fix.
"""

from __future__ import annotations

import importlib
import os
import sys
import zipfile
from collections.abc import Callable
from typing import Any

__all__ = ["ModelRefError", "import_factory", "load_model", "is_program_file", "load_program"]

PROGRAM_SUFFIX = ".pt2"


class ModelRefError(ValueError):
    """A model reference that cannot be imported, called or used."""


def import_factory(ref: str) -> Callable[[], Any]:
    """The callable named by ``package.module:factory`` (``factory`` may be dotted: ``mod:Cls.build``)."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        found = "a folder" if os.path.isdir(ref) else "no file of that name exists"
        raise ModelRefError(f"found `{ref}` for the model, expected `package.module:factory` "
                            f"or a `torch.export` program file ({found})")
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

    if is_program_file(ref):
        raise ModelRefError(f"`{ref}` names a program file, but quantizing needs the model itself: pass "
                            "`package.module:factory` (a torch.export program keeps the graph, not the "
                            "Conv2d, Linear, ... modules that quantization replaces)")
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


def is_program_file(ref: str) -> bool:
    """Whether ``ref`` names a ``torch.export`` program rather than a factory: a file, or ``*.pt2``."""
    return ref.endswith(PROGRAM_SUFFIX) or os.path.isfile(ref)


def load_program(path: str) -> Any:
    """The ``torch.export.ExportedProgram`` that ``torch.export.save`` wrote to ``path`` (any file name)."""
    import torch

    expected = "expected a file written by `torch.export.save`, or `package.module:factory`"
    if os.path.isdir(path):
        raise ModelRefError(f"`{path}` is a folder, {expected}")
    try:
        with open(path, "rb") as stream:
            if not zipfile.is_zipfile(stream):
                raise ModelRefError(f"`{path}` is not a torch.export program (not a zip archive); {expected}")
            stream.seek(0)
            with zipfile.ZipFile(stream) as archive:
                names = archive.namelist()
            # a pt2 archive has `<name>/archive_format`; files of torch 2.7 and before a top-level `version`
            if "version" not in names and not any(n.rpartition("/")[2] == "archive_format" for n in names):
                raise ModelRefError(f"`{path}` is a zip archive without a torch.export program in it "
                                    f"(`torch.save` writes such files); {expected}")
            stream.seek(0)
            program = _quiet_load(torch, stream)
    except OSError as exc:
        raise ModelRefError(f"cannot read `{path}`: {exc.strerror or exc}") from None
    except zipfile.BadZipFile as exc:
        raise ModelRefError(f"`{path}` is not a torch.export program ({exc}); {expected}") from None
    except _LoadFailed as failed:
        exc = failed.cause
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelRefError(f"cannot load the torch.export program `{path}` with torch {torch.__version__} "
                            f"({type(exc).__name__}: {detail[:200]}); export and save it again with "
                            "this torch") from None
    if not isinstance(program, torch.export.ExportedProgram):
        raise ModelRefError(f"`{path}` holds a `{type(program).__name__}`, expected a torch.export program")
    return program


class _LoadFailed(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _quiet_load(torch: Any, stream: Any) -> Any:
    """``torch.export.load``, with the traceback torch logs before failing kept as the reason instead."""
    import logging

    class _Keep(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.WARNING)
            self.causes: list[BaseException] = []

        def emit(self, record: logging.LogRecord) -> None:
            if record.exc_info and record.exc_info[1] is not None:
                self.causes.append(record.exc_info[1])

    logger = logging.getLogger("torch.export")  # torch gives it its own stderr handler
    keep = _Keep()
    handlers, propagate = logger.handlers[:], logger.propagate
    logger.handlers, logger.propagate = [keep], False
    try:
        return torch.export.load(stream)
    except Exception as exc:  # the deserializer raises many kinds
        raise _LoadFailed(keep.causes[0] if keep.causes else exc) from None
    finally:
        logger.handlers, logger.propagate = handlers, propagate
