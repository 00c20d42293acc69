"""``Config``: every setting of a node, with gen_rpc's defaults (in seconds), validated at once.

Sources, from weakest to strongest: the defaults, a TOML file (``Config.from_file``), environment
variables ``GENRPC_<KEY>``, and the keyword overrides given to ``start()``.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import math
import os
import secrets
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn

from genrpc_actors._errors import ConfigError

__all__ = ["Config", "resolve_cookie", "worker_count"]

MiB = 1024 * 1024
MAX_PORT = 65535
_TIMEOUTS = (
    "connect_timeout",
    "send_timeout",
    "authentication_timeout",
    "call_receive_timeout",
    "sbcast_receive_timeout",
)
_OPTIONAL_TIMEOUTS = (
    "client_inactivity_timeout",
    "server_inactivity_timeout",
    "async_call_inactivity_timeout",
)


@dataclass(frozen=True)
class Config:
    """The configuration of one node. Wrong types or values raise :class:`ConfigError`."""

    cookie: str | bytes | None = None
    tcp_server_port: int | Literal[False] = 5369
    tcp_client_port: int = 5369
    ssl_server_port: int | Literal[False] = False
    ssl_client_port: int = 5370
    ssl_server_options: Mapping[str, Any] = field(default_factory=dict)
    ssl_client_options: Mapping[str, Any] = field(default_factory=dict)
    default_client_driver: Literal["tcp", "ssl"] = "tcp"
    client_config_per_node: Any = field(default_factory=dict)
    listen_address: str = "0.0.0.0"  # noqa: S104 - gen_rpc listens on every interface
    rpc_module_control: Literal["disabled", "whitelist", "blacklist"] = "disabled"
    rpc_module_list: Sequence[str] = ()
    connect_timeout: float = 5.0
    send_timeout: float = 5.0
    authentication_timeout: float = 5.0
    call_receive_timeout: float = 15.0
    sbcast_receive_timeout: float = 15.0
    client_inactivity_timeout: float | None = None
    server_inactivity_timeout: float | None = None
    async_call_inactivity_timeout: float | None = None
    socket_keepalive_idle: int = 5
    socket_keepalive_interval: int = 5
    socket_keepalive_count: int = 2
    max_frame_size: int = 256 * MiB
    max_nesting: int = 10_000  # how deeply tuples may nest in a body (deeper: refused unread)
    max_pending_handshakes: int = 1000  # past it, a new connection is closed at once
    worker_processes: int | Literal["auto"] = 0
    process_modules: Sequence[str] = ()
    request_time_limit: float | None = None
    worker_memory_limit: int | None = None
    max_worker_threads: int = 256
    metrics_port: int | None = None  # Prometheus metrics over HTTP (0: a free port)

    def __post_init__(self) -> None:
        _validate(self)

    # -- building ------------------------------------------------------------------------------

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """Every configuration key, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_env(
        cls, base: Config | None = None, environ: Mapping[str, str] | None = None
    ) -> Config:
        """``base`` (or the defaults) with every ``GENRPC_<KEY>`` environment variable applied."""
        environ = os.environ if environ is None else environ
        _check_env_names(environ, cls.keys())
        overrides = {
            key: _parse_env(key, environ[f"GENRPC_{key.upper()}"])
            for key in cls.keys()  # noqa: SIM118 - Config.keys() is a classmethod, not dict
            if f"GENRPC_{key.upper()}" in environ
        }
        return (base or cls()).replace(**overrides)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], environ: Mapping[str, str] | None = None
    ) -> Config:
        """Read a TOML file (keys at the top level or under ``[genrpc]``), then the environment."""
        try:
            with Path(path).open("rb") as stream:
                data = tomllib.load(stream)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("file", f"{path}: {exc}") from None
        table = dict(data.get("genrpc", data))
        per_node = table.get("client_config_per_node")
        if isinstance(per_node, dict):  # TOML has no tuples: ["ssl", 5370] means ("ssl", 5370)
            table["client_config_per_node"] = {
                node: tuple(entry) if isinstance(entry, list) else entry
                for node, entry in per_node.items()
            }
        unknown = set(table) - set(cls.keys())
        if unknown:
            raise ConfigError(sorted(unknown)[0], f"unknown key in {path}")
        return cls.from_env(cls(**table), environ)

    def replace(self, **overrides: Any) -> Config:
        """A copy with ``overrides`` applied (unknown keys raise ConfigError)."""
        unknown = set(overrides) - set(self.keys())
        if unknown:
            raise ConfigError(sorted(unknown)[0], "unknown configuration key")
        return dataclasses.replace(self, **overrides)

    def client_target(self, node: str) -> tuple[str, int]:
        """``(driver, port)`` for an outgoing connection to ``node`` (static map or defaults).

        An external source (an object with ``get_config``) is asked by the caller, not here.
        """
        entry = (
            self.client_config_per_node.get(node)
            if isinstance(self.client_config_per_node, Mapping)
            else None
        )
        if entry is None:
            driver = self.default_client_driver
            return driver, self.tcp_client_port if driver == "tcp" else self.ssl_client_port
        if isinstance(entry, int):
            return self.default_client_driver, entry
        return entry[0], entry[1]


def _fail(key: str, message: str) -> NoReturn:
    raise ConfigError(key, message)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)


def _check_port(key: str, value: Any, *, may_be_false: bool, may_be_zero: bool) -> None:
    if value is False and may_be_false:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(key, f"must be a port number{' or False' if may_be_false else ''}, not {value!r}")
    if not (0 if may_be_zero else 1) <= value <= MAX_PORT:
        _fail(key, f"port out of range: {value}")


def _validate(config: Config) -> None:  # noqa: PLR0912 - one check per key, in key order
    cookie = config.cookie
    if cookie is not None and (not isinstance(cookie, str | bytes) or not cookie):
        _fail("cookie", "must be a non-empty str or bytes")
    _check_port("tcp_server_port", config.tcp_server_port, may_be_false=True, may_be_zero=True)
    _check_port("tcp_client_port", config.tcp_client_port, may_be_false=False, may_be_zero=False)
    _check_port("ssl_server_port", config.ssl_server_port, may_be_false=True, may_be_zero=True)
    _check_port("ssl_client_port", config.ssl_client_port, may_be_false=False, may_be_zero=False)
    for key in ("ssl_server_options", "ssl_client_options"):
        if not isinstance(getattr(config, key), Mapping):
            _fail(key, "must be a mapping")
    if config.default_client_driver not in ("tcp", "ssl"):
        _fail("default_client_driver", "must be 'tcp' or 'ssl'")
    per_node = config.client_config_per_node
    if isinstance(per_node, Mapping):
        for node, entry in per_node.items():
            if not isinstance(node, str) or "@" not in node:
                _fail(
                    "client_config_per_node", f"keys must be node names 'name@host', not {node!r}"
                )
            if isinstance(entry, tuple) and len(entry) == 2 and entry[0] in ("tcp", "ssl"):  # noqa: PLR2004
                entry = entry[1]  # noqa: PLW2901
            if isinstance(entry, bool) or not isinstance(entry, int) or not 1 <= entry <= 65535:  # noqa: PLR2004
                _fail("client_config_per_node", f"{node}: expected a port or (driver, port)")
    elif not callable(getattr(per_node, "get_config", None)):
        _fail("client_config_per_node", "must be a mapping or have get_config(node)")
    address: Any = config.listen_address
    if not isinstance(address, str):
        _fail("listen_address", "must be an address string")
    if config.rpc_module_control not in ("disabled", "whitelist", "blacklist"):
        _fail("rpc_module_control", "must be 'disabled', 'whitelist' or 'blacklist'")
    modules = config.rpc_module_list
    if isinstance(modules, str) or not isinstance(modules, Sequence | frozenset | set):
        _fail("rpc_module_list", "must be a list of module names")
    if not all(isinstance(m, str) for m in modules):
        _fail("rpc_module_list", "module names must be str")
    for key in _TIMEOUTS:
        value = getattr(config, key)
        if not _is_number(value) or value < 0 or math.isinf(value):
            _fail(key, f"must be seconds >= 0, not {value!r}")
    for key in _OPTIONAL_TIMEOUTS:
        value = getattr(config, key)
        if value is not None and (not _is_number(value) or value <= 0 or math.isinf(value)):
            _fail(key, f"must be seconds > 0 or None, not {value!r}")
    for key in (
        "socket_keepalive_idle",
        "socket_keepalive_interval",
        "socket_keepalive_count",
        "max_nesting",
        "max_pending_handshakes",
    ):
        value = getattr(config, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            _fail(key, f"must be an int >= 1, not {value!r}")
    size = config.max_frame_size
    if isinstance(size, bool) or not isinstance(size, int) or size < 1024:  # noqa: PLR2004
        _fail("max_frame_size", f"must be an int >= 1024, not {size!r}")
    _validate_workers(config)
    if config.metrics_port is not None:
        _check_port("metrics_port", config.metrics_port, may_be_false=False, may_be_zero=True)


def _validate_workers(config: Config) -> None:
    """The keys of "Where requests run": process workers and the thread pool's bound."""
    count = config.worker_processes
    if count != "auto" and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        _fail("worker_processes", f"must be an int >= 0 or 'auto', not {count!r}")
    modules = config.process_modules
    if isinstance(modules, str) or not isinstance(modules, Sequence | frozenset | set):
        _fail("process_modules", "must be a list of module names (or ['*'])")
    if not all(isinstance(m, str) and m for m in modules):
        _fail("process_modules", "module names must be non-empty str")
    if modules and count == 0:
        _fail("process_modules", "names modules for process workers, but worker_processes is 0")
    limit = config.request_time_limit
    if limit is not None and (not _is_number(limit) or limit <= 0 or math.isinf(limit)):
        _fail("request_time_limit", f"must be seconds > 0 or None, not {limit!r}")
    memory = config.worker_memory_limit
    if memory is not None and (
        isinstance(memory, bool) or not isinstance(memory, int) or memory < MiB
    ):
        _fail("worker_memory_limit", f"must be bytes (an int >= 1 MiB) or None, not {memory!r}")
    threads = config.max_worker_threads
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        _fail("max_worker_threads", f"must be an int >= 1, not {threads!r}")


def worker_count(config: Config) -> int:
    """How many process workers ``config`` asks for (``"auto"``: one per CPU the node may use)."""
    if config.worker_processes == "auto":
        return (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1
        )
    return config.worker_processes


_WORDS = {"false": False, "true": True, "none": None, "infinity": None, "": None}


def _check_env_names(environ: Mapping[str, str], keys: tuple[str, ...]) -> None:
    """A ``GENRPC_`` variable that names no key is a mistake (a misspelt key would otherwise be
    ignored without a word): ``ConfigError`` naming it, and the key it most looks like."""
    names = {f"GENRPC_{key.upper()}" for key in keys} | {"GENRPC_PURE_PYTHON"}  # see _compiled
    for variable in sorted(environ):
        if variable.startswith("GENRPC_") and variable not in names:
            close = difflib.get_close_matches(variable, sorted(names), n=1)
            hint = f"did you mean {close[0]}?" if close else "see the configuration keys"
            raise ConfigError(variable, f"this environment variable names no key; {hint}")


def _parse_env(key: str, text: str) -> Any:
    """An environment value: a Python literal where the key takes one, else the raw string."""
    if key in ("cookie", "listen_address", "default_client_driver", "rpc_module_control"):
        return text
    if key == "worker_processes" and text.strip() == "auto":
        return "auto"
    if text.strip().lower() in _WORDS:
        return _WORDS[text.strip().lower()]
    if key in ("rpc_module_list", "process_modules") and not text.lstrip().startswith(("[", "(")):
        return tuple(part.strip() for part in text.split(",") if part.strip())
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ConfigError(key, f"GENRPC_{key.upper()}={text!r} is not a valid value") from None


def resolve_cookie(config: Config, home: Path | None = None) -> bytes:
    """The cookie: from the config (``GENRPC_COOKIE`` included), else ``~/.genrpc.cookie``,
    created with random content and mode 0400 when missing; a cookie file that others may read
    is refused, as Erlang refuses one."""
    if config.cookie is not None:
        return config.cookie.encode() if isinstance(config.cookie, str) else config.cookie
    path = (home or Path.home()) / ".genrpc.cookie"
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        fd = os.open(path, flags, 0o400)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as stream:
            stream.write(secrets.token_hex(32))
    mode = path.stat().st_mode
    if mode & 0o077:
        raise ConfigError(
            "cookie", f"{path} is readable by others (mode {mode & 0o777:o}); chmod 400 it"
        )
    cookie = path.read_bytes().strip()
    if not cookie:
        raise ConfigError("cookie", f"{path} is empty")
    return cookie
