"""The templates planforge ships compiled: current with templates/, used when current, never when stale."""

from __future__ import annotations

import shutil
from pathlib import Path

import jinja2
import pytest

from planforge.resources import templates_dir
from planforge.templating import _Loader, compiled_modules, environment

# A build artifact: `make install` (scripts/compile-templates) writes it in a checkout, hatch_build.py in a wheel.
shipped = pytest.importorskip("planforge._compiled_templates", reason="run scripts/compile-templates")
PACKAGE = Path(shipped.__file__).parent
NAME = "broker/README.md.j2"


@pytest.mark.skipif(
    jinja2.__version__ != shipped.JINJA2,
    reason=f"compiled with Jinja2 {shipped.JINJA2}; this is {jinja2.__version__}, which compiles from source",
)
def test_the_shipped_modules_are_those_of_the_templates_now() -> None:
    present = {p.name: p.read_text(encoding="utf-8") for p in PACKAGE.glob("*.py")}
    assert present == compiled_modules(), "run scripts/compile-templates (make regen)"


@pytest.mark.skipif(jinja2.__version__ != shipped.JINJA2, reason="another Jinja2 compiles from source")
def test_a_current_template_renders_from_its_shipped_module() -> None:
    module, _ = shipped.TEMPLATES[NAME]
    assert environment().get_template(NAME).filename == str(PACKAGE / f"{module}.py")


def test_an_edited_template_renders_from_its_source(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    shutil.copytree(templates_dir(), folder)
    (folder / NAME).write_text("edited {{ 1 + 1 }}\n", encoding="utf-8")
    loaded = environment().overlay(loader=_Loader(str(folder))).get_template(NAME)
    assert loaded.filename == str(folder / NAME)
    assert loaded.render() == "edited 2\n"


def test_an_unchanged_template_in_another_folder_still_uses_the_shipped_module(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    shutil.copytree(templates_dir(), folder)
    env = environment().overlay(loader=_Loader(str(folder)))
    expected = shipped.TEMPLATES[NAME][0] if jinja2.__version__ == shipped.JINJA2 else None
    filename = env.get_template(NAME).filename
    assert filename == (str(PACKAGE / f"{expected}.py") if expected else str(folder / NAME))
