"""models.py of generated services: one emitter pass per feature, the part each service needs, with the event
payload models (their docstrings from the schemas), deterministic to the byte."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from planforge.build import build_model
from planforge.loader import load_manifest
from planforge.model import Model
from planforge.targets import pymodels
from planforge.targets.service_events import service_events

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").glob("*/feature.yaml"))


def model_of(path: Path) -> Model:
    """The manifest's model."""
    return build_model(load_manifest(path), path.name)


def classes_of(source: str) -> dict[str, ast.ClassDef]:
    """The module's top-level classes by name."""
    return {node.name: node for node in ast.parse(source).body if isinstance(node, ast.ClassDef)}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_one_emitter_pass_per_feature_gives_each_service_what_it_uses(path: Path) -> None:
    model = model_of(path)
    feature = pymodels.feature_models(model)
    assert len(model.services) > 1
    for service in model.services:
        models = pymodels.python_models(feature, model, service, service.title)
        defined = classes_of(models.source)
        wanted = set(models.classes.values()) | set(models.events.values())
        assert wanted <= set(defined), service.name
        assert set(models.events) == {e.name for e in service_events(model, service)}
        compile(models.source, "models.py", "exec")
        # Nothing another service needs alone: every class is wanted or used by a wanted one.
        used = {n.id for c in defined.values() for n in ast.walk(c) if isinstance(n, ast.Name)}
        assert set(defined) <= wanted | used, service.name


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_models_are_byte_stable_across_runs(path: Path) -> None:
    model = model_of(path)
    runs = [pymodels.feature_models(model), pymodels.feature_models(model_of(path))]
    sources = [[pymodels.python_models(feature, model, s, s.title).source for s in model.services] for feature in runs]
    assert sources[0] == sources[1]


def test_event_models_keep_the_schema_description_and_clashing_names_are_kept_apart(tmp_path: Path) -> None:
    text = (REPO / "examples" / "user-accounts" / "feature.yaml").read_text(encoding="utf-8")
    event = "  user.created:\n    summary: A user registered.\n    exchange: user-events\n    data:\n"
    assert text.count(event) == 1
    text = text.replace(event, event + "      description: 'Who \"registered\", \\ and when.'\n")
    # A schema named like the event's class: the event's model gets another name, the schema keeps its own.
    clash = "  UserCreated: {type: object, properties: {note: {type: string}}}\n"
    text = text.replace("\nschemas:\n", "\nschemas:\n" + clash)
    route = 'request: RegistrationRequest\n        responses: {"201": User,'
    assert text.count(route) == 1
    text = text.replace(route, route.replace("User,", "UserCreated,"))
    path = tmp_path / "feature.yaml"
    path.write_text(text, encoding="utf-8")
    model = model_of(path)
    feature = pymodels.feature_models(model)
    service = next(s for s in model.services if s.name == "user-service")
    models = pymodels.python_models(feature, model, service, service.title)
    classes = classes_of(models.source)
    event_class = classes[models.events["user.created"]]
    assert models.events["user.created"] != models.classes["UserCreated"]
    assert ast.get_docstring(event_class) == 'Who "registered", \\ and when.'
    assert ast.get_docstring(classes[models.classes["UserCreated"]]) == "The manifest's UserCreated schema."
    assert {"userId", "email"} <= {
        n.target.id for n in event_class.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
    }
    summary = classes[models.events["auth.created"]]
    assert ast.get_docstring(summary) == "The data of auth.created: Credentials were created for a new user."
