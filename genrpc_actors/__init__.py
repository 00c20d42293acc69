"""genrpc_actors: gen_rpc's scalable RPC, re-created in Python on Pykka actors."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("genrpc-actors")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
