"""Project settings: ``[tool.amct]`` in ``pyproject.toml``, or ``amct.toml``.

The settings file closest to a linted file wins (its folder, then each parent
folder up to the root; in one folder ``amct.toml`` before ``pyproject.toml``,
and a ``pyproject.toml`` without ``[tool.amct]`` does not count). The command
line overrides what a file says; ``--config PATH`` names one file for every
path and ``--isolated`` ignores them all.

``amct.toml`` holds the same keys at its top level::

    select = ["F", "V"]         # codes or code prefixes; default: every rule
    ignore = ["V012"]
    strict = false              # warnings fail the run too
    layers = "layers.json"      # layer inventory (`amct layers`) for model-aware checks, relative to this file
                                # and inside its folder
    max-file-size = 16777216    # bytes; a larger file is refused with S015 (default 16 MiB)
    target = "amct-9.1"         # the AMCT behaviour to check against (default: documented; docs/cli.md)

    [format]                    # [tool.amct.format] in pyproject.toml
    indent-width = 2
    line-ending = "auto"        # auto (follow the file) | lf | crlf

A file can name its own inventory in a header comment, ``# amct: layers=PATH``
(read by :func:`cfglang.directives.layers_header`; relative to the file's folder,
inside the settings file's folder, or without one the file's own folder), which
wins over ``layers`` (:func:`inventory_source`; ``amct lint``, ``amct plan`` and
``amct lsp`` share it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from cfglang.directives import LayersHeader, layers_header

__all__ = ["FormatOptions", "Settings", "SettingsError", "SettingsResolver", "load_settings_file", "find_settings_file",
           "parse_codes", "is_enabled", "InventorySource", "inventory_source", "inventory_path"]

_LINT_KEYS = {"select", "ignore", "strict", "format", "layers", "max-file-size", "target"}
_FORMAT_KEYS = {"indent-width", "line-ending"}
_LINE_ENDINGS = ("auto", "lf", "crlf")


@dataclass(frozen=True)
class FormatOptions:
    """The options of ``amct fmt`` (``[tool.amct.format]``)."""

    indent_width: int = 2
    line_ending: str = "auto"  # auto: follow the input file (its first line break) | lf | crlf


class SettingsError(Exception):
    """A settings file or option that cannot be used; the message names the file and key."""


@dataclass(frozen=True)
class Settings:
    select: tuple[str, ...] = ()  # empty: every rule
    ignore: tuple[str, ...] = ()
    strict: bool = False
    format: FormatOptions = field(default_factory=FormatOptions)
    source: Path | None = None  # the settings file these came from
    layers: str | None = None  # layer inventory for model-aware checks, relative to the settings file
    max_file_size: int | None = None  # bytes; None: the parser's default (16 MiB)
    target: str | None = None  # the AMCT behaviour to check against (cfglang.capabilities); None: documented

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with every override that is not None applied."""
        return dataclasses.replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def enabled(self, code: str) -> bool:
        return is_enabled(code, self.select, self.ignore)


# ---------------------------------------------------------------- codes


def _known_codes() -> list[str]:
    from cfglang.rules import REGISTRY

    return list(REGISTRY)


def parse_codes(values: Iterable[str], where: str) -> tuple[str, ...]:
    """Normalise codes or prefixes (``F``, ``F0``, ``F001``, ``ALL``); unknown ones raise :class:`SettingsError`."""
    known = _known_codes()
    out = []
    for value in values:
        for item in str(value).split(","):
            code = item.strip().upper()
            if not code:
                continue
            if code != "ALL" and not any(k.startswith(code) for k in known):
                raise SettingsError(f"unknown code `{item.strip()}` in {where} (expected a code such as `F001`, "
                                    f"a prefix such as `F`, or `ALL`)")
            out.append(code)
    return tuple(out)


def _match_length(code: str, prefixes: tuple[str, ...]) -> int:
    """Length of the longest prefix matching ``code`` (``ALL`` matches with length 0); -1 when none does."""
    best = -1
    for prefix in prefixes:
        if prefix == "ALL":
            best = max(best, 0)
        elif code.startswith(prefix):
            best = max(best, len(prefix))
    return best


def is_enabled(code: str, select: tuple[str, ...], ignore: tuple[str, ...]) -> bool:
    """Whether ``code`` is reported: the more specific of a matching select and ignore wins.

    ``select=("F",), ignore=("F01",)`` turns off ``F010``; ``select=("F010",), ignore=("F",)`` keeps it.
    Syntax errors (``S``) are always reported: nothing else can be checked without them.
    """
    from cfglang.rules import stage_of  # the registry, only when there is a diagnostic to judge

    if stage_of(code) == "parse":
        return True
    selected = _match_length(code, select) if select else 0
    if selected < 0:
        return False
    return _match_length(code, ignore) < selected


# ---------------------------------------------------------------- files


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib  # only when a settings file exists

    from cfglang.fsutil import ReadError, read_file

    try:
        text = read_file(path).decode("utf-8")
        return tomllib.loads(text)
    except ReadError as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc.reason}") from None
    except UnicodeDecodeError as exc:
        raise SettingsError(f"cannot read settings file {path}: not UTF-8 text ({exc.reason} at byte "
                            f"{exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"invalid TOML in {path}: {exc}") from None
    except RecursionError:  # tomllib recurses into nested arrays and inline tables
        raise SettingsError(f"invalid TOML in {path}: nested too deep to read") from None


_TOML_TYPES = {dict: "a table", list: "an array", str: "a string", bool: "a boolean", int: "an integer",
               float: "a float"}


def _table_of(path: Path, data: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    if path.name != "pyproject.toml":
        return data, "the top level"
    tool = data.get("tool", {})
    table = tool.get("amct") if isinstance(tool, dict) else None
    if table is not None and not isinstance(table, dict):  # `tool = {amct = 5}`, `[[tool.amct]]`
        found = _TOML_TYPES.get(type(table), "a value")
        if isinstance(table, list) and table and all(isinstance(item, dict) for item in table):
            found = "an array of tables (`[[tool.amct]]`)"
        raise SettingsError(f"found {found} for `tool.amct` in {path}, expected a table (`[tool.amct]`)")
    return table, "[tool.amct]"


def _check_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            expected = ", ".join(f"`{k}`" for k in sorted(allowed))
            raise SettingsError(f"unknown key `{key}` in {where} (expected one of {expected})")


def _string_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise SettingsError(f"found {type(value).__name__} for {where}, expected a list of codes")


def _format_options(table: Any, where: str) -> FormatOptions:
    if not isinstance(table, dict):
        raise SettingsError(f"found {type(table).__name__} for {where}, expected a table")
    _check_keys(table, _FORMAT_KEYS, where)
    indent = table.get("indent-width", 2)
    if isinstance(indent, bool) or not isinstance(indent, int) or not 0 <= indent <= 16:
        raise SettingsError(f"found `{indent!r}` for `indent-width` in {where}, expected an integer from 0 to 16")
    ending = table.get("line-ending", "auto")
    if ending not in _LINE_ENDINGS:
        raise SettingsError(f"found `{ending!r}` for `line-ending` in {where}, expected one of "
                            + ", ".join(f"`{e}`" for e in _LINE_ENDINGS))
    return FormatOptions(indent_width=indent, line_ending=ending)


def settings_from_table(table: dict[str, Any], where: str, source: Path | None = None) -> Settings:
    _check_keys(table, _LINT_KEYS, where)
    strict = table.get("strict", False)
    if not isinstance(strict, bool):
        raise SettingsError(f"found `{strict!r}` for `strict` in {where}, expected true or false")
    layers = table.get("layers")
    if layers is not None and not isinstance(layers, str):
        raise SettingsError(f"found `{layers!r}` for `layers` in {where}, expected the path of a layer inventory")
    max_file_size = table.get("max-file-size")
    if max_file_size is not None and (isinstance(max_file_size, bool) or not isinstance(max_file_size, int)
                                      or max_file_size <= 0):
        raise SettingsError(f"found `{max_file_size!r}` for `max-file-size` in {where}, expected a positive number "
                            f"of bytes")
    target = table.get("target")
    if target is not None:
        from cfglang.capabilities import TargetError, get_target

        try:
            target = get_target(target if isinstance(target, str) else repr(target)).name
        except TargetError as exc:
            raise SettingsError(f"{exc} (`target` in {where})") from None
    return Settings(
        select=parse_codes(_string_list(table.get("select", []), f"`select` in {where}"), f"`select` in {where}"),
        ignore=parse_codes(_string_list(table.get("ignore", []), f"`ignore` in {where}"), f"`ignore` in {where}"),
        strict=strict,
        format=_format_options(table.get("format", {}), f"the format table of {where}"),
        source=source,
        layers=layers,
        max_file_size=max_file_size,
        target=target,
    )


def load_settings_file(path: str | Path) -> Settings:
    """Settings from one file: ``[tool.amct]`` of a ``pyproject.toml``, the top level of any other TOML file."""
    path = Path(path)
    table, where = _table_of(path, _read_toml(path))
    if table is None:
        raise SettingsError(f"{path} has no [tool.amct] table")
    return settings_from_table(table, f"{where} of {path}", path)


def _has_amct_table(path: Path) -> bool:
    return _table_of(path, _read_toml(path))[0] is not None


def find_settings_file(folder: Path) -> Path | None:
    """The closest settings file at or above ``folder``."""
    for candidate in (folder, *folder.parents):
        amct = candidate / "amct.toml"
        if amct.is_file():
            return amct
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file() and _has_amct_table(pyproject):
            return pyproject
    return None


class SettingsResolver:
    """The settings for each linted file, with command-line overrides on top; caches per folder."""

    def __init__(self, config: str | Path | None = None, isolated: bool = False, **overrides: Any) -> None:
        self._overrides = overrides
        self._isolated = isolated
        self._fixed = load_settings_file(config).with_overrides(**overrides) if config is not None else None
        self._by_folder: dict[Path, Settings] = {}
        self._by_file: dict[Path, Settings] = {}

    def for_path(self, path: str | Path | None) -> Settings:
        """Settings for a file (None: the working folder, as for stdin without ``--stdin-filename``)."""
        if self._fixed is not None:
            return self._fixed
        if self._isolated:
            return Settings().with_overrides(**self._overrides)
        folder = (Path(path).parent if path is not None else Path(".")).resolve()
        found = self._by_folder.get(folder)
        if found is None:
            source = find_settings_file(folder)
            if source is None:
                found = Settings().with_overrides(**self._overrides)
            else:
                if source not in self._by_file:
                    self._by_file[source] = load_settings_file(source).with_overrides(**self._overrides)
                found = self._by_file[source]
            self._by_folder[folder] = found
        return found


# ---------------------------------------------------------------- the layer inventory

@dataclass(frozen=True)
class InventorySource:
    """Where a file's layer inventory is, and what named it (its header comment, or the settings' ``layers``)."""

    path: Path  # relative to the working folder when the file's (or the settings file's) path is
    header: LayersHeader | None = None  # the header comment that names it; None: the settings
    settings_file: Path | None = None
    # the folder the inventory must be in (symbolic links resolved): a repository's file may not name
    # `/dev/zero`, `~/.aws/credentials` or `../../secrets.json`; see `Inventory.load(root=)`
    root: Path | None = None

    def unusable(self, name: str, problem: str) -> str:
        """A one-line message: the inventory cannot be used, at the place that names it (file ``name``)."""
        if self.header is not None:
            return (f"{name}:{self.header.line}:{self.header.column}: cannot use the layer inventory named by the "
                    f"`# amct: layers=` header: {problem}")
        return f"{self.settings_file or 'the settings'}: cannot use the layer inventory of `layers`: {problem}"


def inventory_source(text: str | bytes, path: str | Path | None, settings: Settings,
                     workspace: str | Path | None = None) -> InventorySource | None:
    """The file's inventory: its header comment first, then the project settings; None when neither names one.

    The header's path is relative to the file's folder (the working folder for
    ``path`` None, as for stdin without a name); the settings' to the settings file's folder.
    The inventory must stay inside the project (``root``): the settings file's
    folder; for a header without a settings file (or one whose folder does not
    hold the file, as ``--config`` may name), ``workspace`` (the editor's
    workspace folder) or else the file's own folder.
    """
    project = settings.source.parent if settings.source is not None else None
    header = layers_header(text)
    if header is not None:
        from cfglang.fsutil import inside_root

        base = Path(path).parent if path else Path(".")
        if project is not None and not inside_root(base, project):
            project = None  # `--config` elsewhere: its folder is not this file's project
        root = project or (Path(workspace) if workspace is not None else base)
        return InventorySource(base / header.path, header=header, root=root)
    if settings.layers is not None:
        base = project or Path(".")
        return InventorySource(base / settings.layers, settings_file=settings.source, root=base)
    return None


def inventory_path(text: str | bytes, path: str | Path | None, settings: Settings) -> Path | None:
    """The absolute path of the file's inventory (see :func:`inventory_source`), or None."""
    source = inventory_source(text, path, settings)
    return source.path.resolve() if source is not None else None
