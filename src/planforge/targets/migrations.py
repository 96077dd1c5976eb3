"""The migrations target: each service that owns a database gets services/<package>/migrations/, its own
Alembic revisions (branch "app"), created once as a stub that the service's team owns.

The runtime's own tables come from the runtime's revisions (branch "planforge"); see planforge_runtime.migrate.
"""

from __future__ import annotations

from planforge.model import Model
from planforge.targets import Output
from planforge.templating import render_template

__all__ = ["render"]


def render(model: Model) -> Output:
    """The first revision of every database-owning service's own tables, user-owned."""
    user = {}
    for service in model.services:
        if any(d.kind == "postgres" and d.owner == service.name for d in model.datastores):
            path = f"services/{service.package}/migrations/{service.package}_0001_initial.py"
            user[path] = render_template("migrations/initial.py.j2", service=service)
    return Output(user=user)
