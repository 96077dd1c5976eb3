"""`planforge up`: run a generated feature on this machine, services and gateway, in the deployment order.

What to start comes from ``deploy/stack.json`` (written by the deploy target), so no manifest is needed. The
datastores are the ones named in the environment, defaulting to the local PostgreSQL, Redis and RabbitMQ:
each service's database is created when missing, the broker topology (``broker/definitions.json``) is declared
in the vhost, and a JWT key pair is created once in the state folder. Each service runs under uvicorn, the
gateway under nginx, each a child process with its log in ``<state>/logs/``. ``Stack`` is also the API the
end-to-end tests use: ``with Stack(generated_dir, Options(...)) as stack: ...``.

Only the standard library is imported here; database, broker and crypto clients are imported when used, so
that the command line stays light.
"""

from planforge.stack.command import run
from planforge.stack.keys import JwtKeys, ensure_jwt_keys, jwt_key_files
from planforge.stack.processes import Child
from planforge.stack.running import Stack
from planforge.stack.spec import (
    STACK_FORMAT,
    Options,
    ServiceSpec,
    StackError,
    StackSpec,
    StackUsageError,
    load_spec,
)

__all__ = [
    "STACK_FORMAT",
    "Child",
    "JwtKeys",
    "Options",
    "ServiceSpec",
    "Stack",
    "StackError",
    "StackSpec",
    "StackUsageError",
    "ensure_jwt_keys",
    "jwt_key_files",
    "load_spec",
    "run",
]
