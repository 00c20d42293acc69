"""``Config``: API.md's keys and defaults, validation naming the key, TOML files, ``GENRPC_<KEY>``
environment overrides, and the cookie file. No node is started: ``Config`` is pure data."""

from __future__ import annotations

import dataclasses
import math
import os
import pickle
import stat
import textwrap
from typing import Any

import pytest

from genrpc_actors import Config, ConfigError, RpcError
from genrpc_actors._config import resolve_cookie

MiB = 1024 * 1024

# API.md, "Configuration", written out key by key.
DEFAULTS: dict[str, Any] = {
    "cookie": None,  # resolved later: GENRPC_COOKIE, else ~/.genrpc.cookie
    "tcp_server_port": 5369,
    "tcp_client_port": 5369,
    "ssl_server_port": False,
    "ssl_client_port": 5370,
    "ssl_server_options": {},
    "ssl_client_options": {},
    "default_client_driver": "tcp",
    "client_config_per_node": {},
    "listen_address": "0.0.0.0",
    "rpc_module_control": "disabled",
    "rpc_module_list": [],
    "connect_timeout": 5.0,
    "send_timeout": 5.0,
    "authentication_timeout": 5.0,
    "call_receive_timeout": 15.0,
    "sbcast_receive_timeout": 15.0,
    "client_inactivity_timeout": None,
    "server_inactivity_timeout": None,
    "async_call_inactivity_timeout": None,
    "socket_keepalive_idle": 5,
    "socket_keepalive_interval": 5,
    "socket_keepalive_count": 2,
    "max_frame_size": 256 * MiB,
    "max_nesting": 10_000,  # one key more than API.md's table: the security model guide
    "max_pending_handshakes": 1000,  # another: the security model guide
    # "Where requests run: threads and process workers"
    "worker_processes": 0,
    "process_modules": [],
    "request_time_limit": None,
    "worker_memory_limit": None,
    "max_worker_threads": 256,
    "metrics_port": None,
}


class ExternalSource:
    """gen_rpc's external source of client configuration: ``get_config(node)``."""

    def get_config(self, node: str) -> tuple[str, int]:
        return ("tcp", 6000)


# -- keys and defaults --------------------------------------------------------------------------


def test_the_keys_are_those_of_api_md():
    assert set(Config.keys()) == set(DEFAULTS)
    assert len(Config.keys()) == len(DEFAULTS)
    assert Config.keys() == tuple(f.name for f in dataclasses.fields(Config))


@pytest.mark.parametrize(("key", "default"), DEFAULTS.items())
def test_each_default_is_the_one_of_api_md(key, default):
    value = getattr(Config(), key)
    if key in ("rpc_module_list", "process_modules"):
        assert list(value) == default
    elif isinstance(default, dict):
        assert dict(value) == default
    elif default is None or isinstance(default, bool):
        assert value is default
    else:
        assert value == default
        assert type(value) is type(default)


def test_the_timeouts_are_seconds_as_floats():
    config = Config()
    assert config.call_receive_timeout == 15.0
    assert config.sbcast_receive_timeout == 15.0
    assert config.connect_timeout == config.send_timeout == config.authentication_timeout == 5.0
    assert config.max_frame_size == 268_435_456


def test_mutable_defaults_are_not_shared():
    assert Config().ssl_server_options is not Config().ssl_server_options
    assert Config().client_config_per_node is not Config().client_config_per_node


def test_config_is_frozen():
    config = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.tcp_server_port = 1  # type: ignore[misc]


def test_configs_compare_by_value():
    assert Config(tcp_server_port=0) == Config(tcp_server_port=0)
    assert Config(tcp_server_port=0) != Config()


# -- valid values -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("cookie", "s3cret"),
        ("cookie", b"\x00binary"),
        ("tcp_server_port", 0),
        ("tcp_server_port", False),
        ("tcp_server_port", 65535),
        ("tcp_client_port", 1),
        ("ssl_server_port", 0),
        ("ssl_server_port", 5370),
        ("ssl_client_port", 65535),
        ("ssl_server_options", {"certfile": "node.pem", "keyfile": "node.key"}),
        ("ssl_client_options", {"cacertfile": "ca.pem"}),
        ("default_client_driver", "ssl"),
        ("client_config_per_node", {"a@h": 6000, "b@h": ("ssl", 6001), "c@h": ("tcp", 1)}),
        ("client_config_per_node", ExternalSource()),
        ("listen_address", "127.0.0.1"),
        ("listen_address", "::"),
        ("rpc_module_control", "whitelist"),
        ("rpc_module_control", "blacklist"),
        ("rpc_module_list", ["os", "operator"]),
        ("rpc_module_list", ("os",)),
        ("rpc_module_list", {"os"}),
        ("rpc_module_list", frozenset({"os"})),
        ("connect_timeout", 0.5),
        ("send_timeout", 1),
        ("call_receive_timeout", 3600.0),
        ("client_inactivity_timeout", 0.25),
        ("server_inactivity_timeout", 60),
        ("async_call_inactivity_timeout", 1.5),
        ("socket_keepalive_idle", 1),
        ("socket_keepalive_interval", 30),
        ("socket_keepalive_count", 9),
        ("max_nesting", 50),
        ("max_pending_handshakes", 1),
        ("max_pending_handshakes", 100_000),
        ("max_frame_size", 1024),
        ("max_frame_size", 1 << 31),
    ],
)
def test_good_values_are_kept(key, value):
    config = Config(**{key: value})
    assert getattr(config, key) == value
    assert getattr(Config().replace(**{key: value}), key) == value


# -- wrong types and values ---------------------------------------------------------------------

_PORT_JUNK = [-1, 65536, 70000, "5369", 5369.0, None, True, [5369]]
_TIMEOUT_JUNK = [-1, -0.001, "5", None, math.inf, math.nan, True, False, [1.0]]
_OPTIONAL_TIMEOUT_JUNK = [0, 0.0, -1, "5", math.inf, -math.inf, math.nan, True, [1.0]]
_COUNT_JUNK = [0, -1, 1.5, 5.0, "5", None, True, False]

BAD_VALUES: list[tuple[str, Any]] = [
    ("cookie", ""),
    ("cookie", b""),
    ("cookie", 123),
    ("cookie", ["s3cret"]),
    ("cookie", bytearray(b"s3cret")),
    *[("tcp_server_port", v) for v in _PORT_JUNK],
    *[("tcp_client_port", v) for v in [*_PORT_JUNK, 0, False]],
    *[("ssl_server_port", v) for v in _PORT_JUNK],
    *[("ssl_client_port", v) for v in [*_PORT_JUNK, 0, False]],
    ("ssl_server_options", None),
    ("ssl_server_options", []),
    ("ssl_server_options", "certfile=x"),
    ("ssl_client_options", None),
    ("ssl_client_options", [("cacertfile", "ca.pem")]),
    ("default_client_driver", "udp"),
    ("default_client_driver", "TCP"),
    ("default_client_driver", ""),
    ("default_client_driver", None),
    ("default_client_driver", 1),
    ("client_config_per_node", {"nohost": 5369}),
    ("client_config_per_node", {1: 5369}),
    ("client_config_per_node", {("a@h", 1): 5369}),
    ("client_config_per_node", {"a@h": 0}),
    ("client_config_per_node", {"a@h": -1}),
    ("client_config_per_node", {"a@h": 70000}),
    ("client_config_per_node", {"a@h": True}),
    ("client_config_per_node", {"a@h": "5369"}),
    ("client_config_per_node", {"a@h": None}),
    ("client_config_per_node", {"a@h": ("udp", 5369)}),
    ("client_config_per_node", {"a@h": ("tcp", "5369")}),
    ("client_config_per_node", {"a@h": ("ssl", 0)}),
    ("client_config_per_node", {"a@h": ("tcp", 1, 2)}),
    ("client_config_per_node", [("a@h", 5369)]),
    ("client_config_per_node", None),
    ("client_config_per_node", 5369),
    ("client_config_per_node", "a@h"),
    ("listen_address", None),
    ("listen_address", 0),
    ("listen_address", b"0.0.0.0"),
    ("listen_address", ("0.0.0.0", 5369)),
    ("rpc_module_control", "whitelisted"),
    ("rpc_module_control", "WHITELIST"),
    ("rpc_module_control", ""),
    ("rpc_module_control", None),
    ("rpc_module_control", True),
    ("rpc_module_list", "os"),
    ("rpc_module_list", None),
    ("rpc_module_list", 5),
    ("rpc_module_list", ["os", 1]),
    ("rpc_module_list", [b"os"]),
    ("rpc_module_list", {"os": True}),
    *[(key, v) for key in ("connect_timeout", "send_timeout") for v in _TIMEOUT_JUNK],
    *[
        (key, v)
        for key in ("authentication_timeout", "call_receive_timeout")
        for v in _TIMEOUT_JUNK
    ],
    *[("sbcast_receive_timeout", v) for v in _TIMEOUT_JUNK],
    *[("client_inactivity_timeout", v) for v in _OPTIONAL_TIMEOUT_JUNK],
    *[("server_inactivity_timeout", v) for v in _OPTIONAL_TIMEOUT_JUNK],
    *[("async_call_inactivity_timeout", v) for v in _OPTIONAL_TIMEOUT_JUNK],
    *[("socket_keepalive_idle", v) for v in _COUNT_JUNK],
    *[("socket_keepalive_interval", v) for v in _COUNT_JUNK],
    *[("socket_keepalive_count", v) for v in _COUNT_JUNK],
    *[("max_nesting", v) for v in _COUNT_JUNK],
    *[("max_pending_handshakes", v) for v in _COUNT_JUNK],
    *[("max_frame_size", v) for v in [0, -1, 1023, 1024.0, "1048576", None, True, math.inf]],
    *[("worker_processes", v) for v in [-1, 1.5, "4", "all", None, True]],
    *[("process_modules", v) for v in ["os", None, 5, ["os", 1], [""]]],
    ("process_modules", ["os"]),  # with worker_processes left at 0: no worker would run them
    *[("request_time_limit", v) for v in _OPTIONAL_TIMEOUT_JUNK],
    *[("worker_memory_limit", v) for v in [0, -1, 1024, 2.0**30, "1G", True]],
    *[("max_worker_threads", v) for v in [0, -1, 1.0, "8", None, True]],
    *[("metrics_port", v) for v in [-1, 65536, 80.0, "9100", True, False]],
]


def _bad_id(case: tuple[str, Any]) -> str:
    key, value = case
    return f"{key}={value!r}"


@pytest.fixture(params=BAD_VALUES, ids=[_bad_id(case) for case in BAD_VALUES])
def bad(request):
    return request.param


def test_every_key_has_bad_values_tested():
    assert {key for key, _ in BAD_VALUES} == set(DEFAULTS)


def test_a_bad_value_raises_config_error_naming_the_key(bad):
    key, value = bad
    with pytest.raises(ConfigError) as info:
        Config(**{key: value})
    assert info.value.key == key
    assert info.value.reason == ("config", key)
    assert str(info.value).startswith(f"{key}: ")


def test_replace_validates_too(bad):
    key, value = bad
    with pytest.raises(ConfigError) as info:
        Config().replace(**{key: value})
    assert info.value.key == key


def test_config_error_is_a_value_error_and_an_rpc_error():
    with pytest.raises(ConfigError) as info:
        Config(send_timeout=-1)
    error = info.value
    assert isinstance(error, ValueError)
    assert isinstance(error, RpcError)
    assert error.key == "send_timeout"
    with pytest.raises(ValueError):
        Config(send_timeout=-1)
    with pytest.raises(RpcError):
        Config(send_timeout=-1)


def test_config_error_pickles_with_its_key_and_message():
    error = ConfigError("send_timeout", "must be seconds >= 0, not -1")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is ConfigError
    assert copy.key == "send_timeout"
    assert copy.reason == ("config", "send_timeout")
    assert str(copy) == str(error) == "send_timeout: must be seconds >= 0, not -1"


# -- replace ------------------------------------------------------------------------------------


def test_replace_returns_a_new_config_and_keeps_the_old_one():
    base = Config(cookie="c", tcp_server_port=0)
    changed = base.replace(call_receive_timeout=2.5, rpc_module_control="whitelist")
    assert changed is not base
    assert changed.call_receive_timeout == 2.5
    assert changed.rpc_module_control == "whitelist"
    assert (changed.cookie, changed.tcp_server_port) == ("c", 0)
    assert base.call_receive_timeout == 15.0
    assert base.rpc_module_control == "disabled"
    assert base.replace() == base


@pytest.mark.parametrize("key", ["no_such_key", "COOKIE", "genrpc_cookie", "port"])
def test_replace_refuses_an_unknown_key(key):
    with pytest.raises(ConfigError) as info:
        Config().replace(**{key: 1})
    assert info.value.key == key


def test_replace_names_an_unknown_key_even_among_good_ones():
    with pytest.raises(ConfigError) as info:
        Config().replace(send_timeout=1.0, bogus=2)
    assert info.value.key == "bogus"


# -- client_target ------------------------------------------------------------------------------


def test_client_target_for_a_node_with_a_bare_port():
    config = Config(client_config_per_node={"b@h": 6001})
    assert config.client_target("b@h") == ("tcp", 6001)
    ssl = config.replace(default_client_driver="ssl")
    assert ssl.client_target("b@h") == ("ssl", 6001)


def test_client_target_for_a_node_with_driver_and_port():
    config = Config(client_config_per_node={"b@h": ("ssl", 6002), "c@h": ("tcp", 6003)})
    assert config.client_target("b@h") == ("ssl", 6002)
    assert config.client_target("c@h") == ("tcp", 6003)
    assert config.replace(default_client_driver="ssl").client_target("c@h") == ("tcp", 6003)


def test_client_target_for_a_node_not_in_the_map_uses_the_defaults():
    config = Config(client_config_per_node={"b@h": 6001})
    assert config.client_target("z@h") == ("tcp", 5369)
    assert config.replace(tcp_client_port=7000).client_target("z@h") == ("tcp", 7000)
    ssl = config.replace(default_client_driver="ssl", ssl_client_port=7001)
    assert ssl.client_target("z@h") == ("ssl", 7001)
    assert Config(default_client_driver="ssl").client_target("z@h") == ("ssl", 5370)


def test_client_target_with_an_external_source_gives_the_defaults():
    # the caller asks the external source itself; client_target only knows the static map
    config = Config(client_config_per_node=ExternalSource())
    assert config.client_target("b@h") == ("tcp", 5369)


# -- environment --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "text", "key", "expected"),
    [
        ("GENRPC_COOKIE", "s3cret", "cookie", "s3cret"),
        ("GENRPC_COOKIE", "123", "cookie", "123"),
        ("GENRPC_TCP_SERVER_PORT", "0", "tcp_server_port", 0),
        ("GENRPC_TCP_SERVER_PORT", "false", "tcp_server_port", False),
        ("GENRPC_TCP_SERVER_PORT", "False", "tcp_server_port", False),
        ("GENRPC_SSL_SERVER_PORT", "5371", "ssl_server_port", 5371),
        ("GENRPC_TCP_CLIENT_PORT", " 6000 ", "tcp_client_port", 6000),
        ("GENRPC_DEFAULT_CLIENT_DRIVER", "ssl", "default_client_driver", "ssl"),
        ("GENRPC_LISTEN_ADDRESS", "127.0.0.1", "listen_address", "127.0.0.1"),
        ("GENRPC_RPC_MODULE_CONTROL", "whitelist", "rpc_module_control", "whitelist"),
        ("GENRPC_RPC_MODULE_LIST", "os,operator", "rpc_module_list", ("os", "operator")),
        ("GENRPC_RPC_MODULE_LIST", "os, operator ,", "rpc_module_list", ("os", "operator")),
        ("GENRPC_RPC_MODULE_LIST", '["os", "sys"]', "rpc_module_list", ["os", "sys"]),
        ("GENRPC_CALL_RECEIVE_TIMEOUT", "2.5", "call_receive_timeout", 2.5),
        ("GENRPC_CONNECT_TIMEOUT", "1", "connect_timeout", 1),
        ("GENRPC_CLIENT_INACTIVITY_TIMEOUT", "infinity", "client_inactivity_timeout", None),
        ("GENRPC_SERVER_INACTIVITY_TIMEOUT", "30", "server_inactivity_timeout", 30),
        ("GENRPC_ASYNC_CALL_INACTIVITY_TIMEOUT", "None", "async_call_inactivity_timeout", None),
        ("GENRPC_SOCKET_KEEPALIVE_COUNT", "4", "socket_keepalive_count", 4),
        ("GENRPC_MAX_FRAME_SIZE", "1048576", "max_frame_size", MiB),
        ("GENRPC_MAX_PENDING_HANDSHAKES", "20", "max_pending_handshakes", 20),
        (
            "GENRPC_SSL_CLIENT_OPTIONS",
            '{"cacertfile": "ca.pem"}',
            "ssl_client_options",
            {"cacertfile": "ca.pem"},
        ),
        (
            "GENRPC_CLIENT_CONFIG_PER_NODE",
            '{"b@h": ("ssl", 6002)}',
            "client_config_per_node",
            {"b@h": ("ssl", 6002)},
        ),
    ],
)
def test_an_environment_variable_sets_its_key(variable, text, key, expected):
    config = Config.from_env(environ={variable: text})
    assert getattr(config, key) == expected
    if isinstance(expected, bool) or expected is None:
        assert getattr(config, key) is expected


@pytest.mark.parametrize(
    ("variable", "text", "key"),
    [
        ("GENRPC_CONNECT_TIMEOUT", "soon", "connect_timeout"),
        ("GENRPC_CONNECT_TIMEOUT", "-1", "connect_timeout"),
        ("GENRPC_CONNECT_TIMEOUT", "", "connect_timeout"),
        ("GENRPC_TCP_SERVER_PORT", "true", "tcp_server_port"),
        ("GENRPC_TCP_SERVER_PORT", "port", "tcp_server_port"),
        ("GENRPC_TCP_SERVER_PORT", "99999", "tcp_server_port"),
        ("GENRPC_DEFAULT_CLIENT_DRIVER", "udp", "default_client_driver"),
        ("GENRPC_RPC_MODULE_CONTROL", "maybe", "rpc_module_control"),
        ("GENRPC_MAX_FRAME_SIZE", "1 MiB", "max_frame_size"),
        ("GENRPC_SSL_SERVER_OPTIONS", "{unclosed", "ssl_server_options"),
        ("GENRPC_COOKIE", "", "cookie"),
    ],
)
def test_a_bad_environment_variable_raises_config_error_naming_the_key(variable, text, key):
    with pytest.raises(ConfigError) as info:
        Config.from_env(environ={variable: text})
    assert info.value.key == key


@pytest.mark.parametrize(
    ("variable", "hint"),
    [
        ("GENRPC_TCP_SERVR_PORT", "did you mean GENRPC_TCP_SERVER_PORT?"),
        ("GENRPC_COOKIES", "did you mean GENRPC_COOKIE?"),
        ("GENRPC_NOTHING_LIKE_ANY_KEY_AT_ALL", "see the configuration keys"),
    ],
)
def test_a_genrpc_variable_that_names_no_key_is_an_error(variable, hint):
    with pytest.raises(ConfigError) as info:
        Config.from_env(environ={variable: "1", "GENRPC_SEND_TIMEOUT": "2.0"})
    assert info.value.key == variable
    assert str(info.value).startswith(f"{variable}: ")
    assert hint in str(info.value)


def test_a_misspelt_variable_stops_start(monkeypatch):
    import genrpc_actors

    monkeypatch.setenv("GENRPC_TCP_SERVR_PORT", "0")
    with pytest.raises(ConfigError, match="GENRPC_TCP_SERVR_PORT"):
        genrpc_actors.start("misspelt@127.0.0.1", tcp_server_port=False)


def test_from_env_keeps_the_base_for_keys_not_set():
    base = Config(cookie="base", call_receive_timeout=1.0)
    config = Config.from_env(base, environ={"GENRPC_SEND_TIMEOUT": "2.0", "HOME": "/nowhere"})
    assert (config.cookie, config.call_receive_timeout, config.send_timeout) == ("base", 1.0, 2.0)
    assert base.send_timeout == 5.0
    assert Config.from_env(base, environ={}) == base


def test_from_env_reads_os_environ_by_default(monkeypatch):
    for name in list(os.environ):
        if name.startswith("GENRPC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GENRPC_SBCAST_RECEIVE_TIMEOUT", "3.5")
    assert Config.from_env().sbcast_receive_timeout == 3.5


# -- files --------------------------------------------------------------------------------------


def _write(tmp_path, text: str):
    path = tmp_path / "genrpc.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_from_file_reads_top_level_keys(tmp_path):
    path = _write(
        tmp_path,
        """
        cookie = "from-file"
        tcp_server_port = 6000
        ssl_server_port = false
        rpc_module_control = "whitelist"
        rpc_module_list = ["os", "operator"]
        call_receive_timeout = 2.5
        max_frame_size = 1048576
        """,
    )
    config = Config.from_file(path, environ={})
    assert config.cookie == "from-file"
    assert config.tcp_server_port == 6000
    assert config.ssl_server_port is False
    assert config.rpc_module_control == "whitelist"
    assert list(config.rpc_module_list) == ["os", "operator"]
    assert config.call_receive_timeout == 2.5
    assert config.max_frame_size == MiB
    assert config.send_timeout == 5.0  # not in the file: the default


def test_from_file_reads_keys_under_genrpc(tmp_path):
    path = _write(
        tmp_path,
        """
        [genrpc]
        tcp_server_port = 6001
        default_client_driver = "ssl"
        listen_address = "127.0.0.1"

        [genrpc.ssl_client_options]
        cacertfile = "ca.pem"

        [genrpc.client_config_per_node]
        "b@h" = 6002
        """,
    )
    config = Config.from_file(str(path), environ={})
    assert config.tcp_server_port == 6001
    assert config.default_client_driver == "ssl"
    assert config.listen_address == "127.0.0.1"
    assert dict(config.ssl_client_options) == {"cacertfile": "ca.pem"}
    assert config.client_target("b@h") == ("ssl", 6002)


def test_an_empty_file_gives_the_defaults(tmp_path):
    assert Config.from_file(_write(tmp_path, ""), environ={}) == Config()


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("no_such_key = 1\n", "no_such_key"),
        ("tcp_server_port = 1\nport = 2\n", "port"),
        ("[genrpc]\ncookies = 'x'\n", "cookies"),
    ],
)
def test_an_unknown_key_in_a_file_raises_config_error(tmp_path, text, key):
    with pytest.raises(ConfigError) as info:
        Config.from_file(_write(tmp_path, text), environ={})
    assert info.value.key == key


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("tcp_server_port = 'x'\n", "tcp_server_port"),
        ("[genrpc]\nsend_timeout = -1.0\n", "send_timeout"),
        ("rpc_module_list = 'os'\n", "rpc_module_list"),
        ("rpc_module_control = 'everything'\n", "rpc_module_control"),
    ],
)
def test_a_bad_value_in_a_file_raises_config_error_naming_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as info:
        Config.from_file(_write(tmp_path, text), environ={})
    assert info.value.key == key


def test_the_environment_wins_over_the_file(tmp_path):
    path = _write(
        tmp_path,
        """
        [genrpc]
        cookie = "from-file"
        tcp_server_port = 6000
        call_receive_timeout = 2.5
        """,
    )
    environ = {
        "GENRPC_COOKIE": "from-env",
        "GENRPC_TCP_SERVER_PORT": "7000",
        "GENRPC_SEND_TIMEOUT": "1.5",
        "UNRELATED": "x",
    }
    config = Config.from_file(path, environ=environ)
    assert config.cookie == "from-env"
    assert config.tcp_server_port == 7000
    assert config.send_timeout == 1.5  # only in the environment
    assert config.call_receive_timeout == 2.5  # only in the file


def test_from_file_reads_os_environ_by_default(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("GENRPC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GENRPC_TCP_SERVER_PORT", "7001")
    path = _write(tmp_path, "tcp_server_port = 6000\nsend_timeout = 2.0\n")
    config = Config.from_file(path)
    assert (config.tcp_server_port, config.send_timeout) == (7001, 2.0)


def test_a_bad_environment_value_over_a_file_names_the_key(tmp_path):
    path = _write(tmp_path, "connect_timeout = 1.0\n")
    with pytest.raises(ConfigError) as info:
        Config.from_file(path, environ={"GENRPC_CONNECT_TIMEOUT": "-2"})
    assert info.value.key == "connect_timeout"


def test_a_file_can_give_a_driver_and_port_per_node(tmp_path):
    path = _write(
        tmp_path,
        """
        [genrpc.client_config_per_node]
        "b@h" = ["ssl", 6002]
        """,
    )
    config = Config.from_file(path, environ={})
    assert config.client_target("b@h") == ("ssl", 6002)


# -- the cookie ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cookie", "expected"),
    [("s3cret", b"s3cret"), ("ключ", "ключ".encode()), (b"\x00\xffraw", b"\x00\xffraw")],
)
def test_an_explicit_cookie_is_used_as_is(tmp_path, cookie, expected):
    assert resolve_cookie(Config(cookie=cookie), home=tmp_path) == expected
    assert not (tmp_path / ".genrpc.cookie").exists()


def test_the_cookie_from_the_environment(tmp_path):
    config = Config.from_env(environ={"GENRPC_COOKIE": "env-cookie"})
    assert resolve_cookie(config, home=tmp_path) == b"env-cookie"
    assert list(tmp_path.iterdir()) == []


def test_without_a_cookie_the_file_is_created_private_and_random(tmp_path):
    first_home, second_home = tmp_path / "one", tmp_path / "two"
    first_home.mkdir()
    second_home.mkdir()
    cookie = resolve_cookie(Config(), home=first_home)
    path = first_home / ".genrpc.cookie"
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o400
    assert len(cookie) >= 32
    assert path.read_bytes().strip() == cookie
    assert resolve_cookie(Config(), home=second_home) != cookie  # random, not a constant


def test_the_cookie_file_is_read_back_the_second_time(tmp_path):
    first = resolve_cookie(Config(), home=tmp_path)
    content = (tmp_path / ".genrpc.cookie").read_bytes()
    second = resolve_cookie(Config(), home=tmp_path)
    assert second == first
    assert (tmp_path / ".genrpc.cookie").read_bytes() == content
    assert stat.S_IMODE((tmp_path / ".genrpc.cookie").stat().st_mode) == 0o400


def test_an_existing_cookie_file_is_used(tmp_path):
    (tmp_path / ".genrpc.cookie").write_bytes(b"mine\n")
    (tmp_path / ".genrpc.cookie").chmod(0o600)  # owner-only; others may not read a cookie
    assert resolve_cookie(Config(), home=tmp_path) == b"mine"


def test_an_empty_cookie_file_raises_config_error(tmp_path):
    (tmp_path / ".genrpc.cookie").write_bytes(b"\n")
    (tmp_path / ".genrpc.cookie").chmod(0o600)
    with pytest.raises(ConfigError) as info:
        resolve_cookie(Config(), home=tmp_path)
    assert info.value.key == "cookie"


def test_a_cookie_file_readable_by_others_is_refused(tmp_path):
    path = tmp_path / ".genrpc.cookie"
    path.write_text("secret")
    path.chmod(0o644)
    with pytest.raises(ConfigError) as caught:
        resolve_cookie(Config(), home=tmp_path)
    assert caught.value.key == "cookie"
    assert "chmod 400" in str(caught.value)
    path.chmod(0o400)
    assert resolve_cookie(Config(), home=tmp_path) == b"secret"
