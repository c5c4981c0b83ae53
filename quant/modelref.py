"""How the command line names a model: ``package.module:factory`` or a program file.

The factory is a callable taking no arguments and returning an ``nn.Module``.
What runs: the named module is imported (its top-level code runs) and the
factory is called, so a reference is code the user chose to run. The current
directory is importable, but last on ``sys.path``: a stray ``onnx.py`` or
``torch.py`` there cannot shadow an installed package.

A reference that names an existing file, or ends in ``.pt2``, is a
``torch.export`` program (written by ``torch.export.save``): it gives the
graph, so a layer inventory, but not the ``nn.Module`` that quantization works
on. ``torch.export.load`` unpickles parts of the file; :func:`load_program`
loads it with every ``torch.load`` forced to ``weights_only`` and refuses
archives with parts that would run code (pickled objects, compiled AOTInductor
models), so a doctored program cannot run code, as far as torch allows.
Every failure is a :class:`ModelRefError` with a one-line message that says what to fix.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import sys
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["ModelRefError", "import_factory", "load_model", "is_program_file", "load_program"]

PROGRAM_SUFFIX = ".pt2"


class ModelRefError(ValueError):
    """A model reference that cannot be imported, called or used."""


def import_factory(ref: str, expected: str = "a callable returning a model") -> Callable[..., Any]:
    """The callable named by ``package.module:factory`` (``factory`` may be dotted: ``mod:Cls.build``);
    ``expected`` says what it must be when it is no callable."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        found = "a folder" if os.path.isdir(ref) else "no file of that name exists"
        raise ModelRefError(f"found `{ref}` for the model, expected `package.module:factory` "
                            f"or a `torch.export` program file ({found})")
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)  # last: installed packages win over same-named files in the current folder
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
        raise ModelRefError(f"`{ref}` is a `{type(target).__name__}`, expected {expected}")
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
            running = [n for n in names if any(part in "/" + n for part in _CODE_PARTS)]
            if running:
                raise ModelRefError(f"`{path}` holds parts that would run code when loaded (`{running[0]}`: "
                                    f"pickled objects or a compiled model), which are not loaded; write the "
                                    f"inventory with `amct layers --model package.module:factory` instead")
            stream.seek(0)
            with _weights_only():
                program = _quiet_load(torch, stream)
    except OSError as exc:
        raise ModelRefError(f"cannot read `{path}`: {exc.strerror or exc}") from None
    except zipfile.BadZipFile as exc:
        raise ModelRefError(f"`{path}` is not a torch.export program ({exc}); {expected}") from None
    except _LoadFailed as failed:
        exc = failed.cause
        if isinstance(exc, pickle.UnpicklingError):  # refused by weights_only: not plain tensors
            raise ModelRefError(f"`{path}` holds pickled objects other than tensors, which could run code when "
                                f"loaded, so it is not loaded; write the inventory with `amct layers --model "
                                f"package.module:factory` instead") from None
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelRefError(f"cannot load the torch.export program `{path}` with torch {torch.__version__} "
                            f"({type(exc).__name__}: {detail[:200]}); export and save it again with "
                            "this torch") from None
    if not isinstance(program, torch.export.ExportedProgram):
        raise ModelRefError(f"`{path}` holds a `{type(program).__name__}`, expected a torch.export program")
    return program


# archive entries that `torch.export.load` turns into code: pickled opaque or torchbind objects, compiled
# AOTInductor / ExecuTorch / MTIA models (see torch/export/pt2_archive/_package.py)
_CODE_PARTS = ("/data/constants/custom_obj_", "/data/constants/opaque_obj_", "/data/aotinductor/",
               "/data/executorch/", "/data/mtia")


@contextlib.contextmanager
def _weights_only() -> Iterator[None]:
    """Every ``torch.load`` inside (torch.export.load has several, some with ``weights_only=False``) is
    forced to ``weights_only=True``: plain tensors and containers, no code (torch's own switch)."""
    saved = {name: os.environ.pop(name, None) for name in _FORCE_VARIABLES}
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_FORCE_VARIABLES = ("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")


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
