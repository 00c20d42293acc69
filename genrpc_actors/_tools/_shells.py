"""The files behind ``make shell-master`` and ``make shell-slave``: two nodes on 127.0.0.1 that
reach each other over TLS (gen_rpc's ports: 5370 and 5372), certificates made on first use.

    python -m genrpc_actors._tools._shells DIR   writes DIR/{master,slave}.toml and DIR/certs/
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from genrpc_actors._tools._certs import create_node_certificate

__all__ = ["write_shell_configs"]

NODES = {"master@127.0.0.1": 5370, "slave@127.0.0.1": 5372}


def write_shell_configs(directory: str | os.PathLike[str]) -> list[Path]:
    """Create (once) certificates and a TOML configuration per shell node; returns the configs."""
    folder = Path(directory)
    certs = folder / "certs"
    cookie = secrets.token_hex(16)
    written = []
    for name, port in NODES.items():
        config = folder / f"{name.split('@')[0]}.toml"
        if config.exists():
            written.append(config)
            continue
        files = create_node_certificate(certs, name)
        options = "\n".join(f'{key} = "{value}"' for key, value in files.options().items())
        peers = "\n".join(
            f'"{other}" = ["ssl", {other_port}]'
            for other, other_port in NODES.items()
            if other != name
        )
        text = (
            f'cookie = "{cookie}"\ntcp_server_port = false\nssl_server_port = {port}\n'
            f'default_client_driver = "ssl"\n\n[client_config_per_node]\n{peers}\n\n'
            f"[ssl_server_options]\n{options}\n\n[ssl_client_options]\n{options}\n"
        )
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # it holds the cookie
        with os.fdopen(fd, "w") as stream:
            stream.write(text)
        written.append(config)
    return written


if __name__ == "__main__":
    for path in write_shell_configs(sys.argv[1] if len(sys.argv) > 1 else ".shell"):
        print(path)
