"""Wheel build hook: planforge's templates go into the wheel compiled (see planforge.templating).

The modules are written by the same function as `scripts/compile-templates` writes for a source checkout, into
a folder of the build that becomes the wheel's ``planforge/_compiled_templates``. Editable installs skip it:
there `make install` runs the script, and a template without a current module is compiled from source.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CompiledTemplates(BuildHookInterface):  # type: ignore[type-arg]
    """Adds planforge._compiled_templates to a (non-editable) wheel."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Compile the templates into a temporary folder and include it in the wheel."""
        if self.target_name != "wheel" or version == "editable":
            return
        sys.path.insert(0, str(Path(self.root) / "src"))
        try:
            from planforge.templating import compiled_modules

            files = compiled_modules()
        finally:
            sys.path.pop(0)
        self._folder = Path(tempfile.mkdtemp(prefix="planforge-templates-"))
        for name, text in files.items():
            (self._folder / name).write_text(text, encoding="utf-8")
        build_data["force_include"][str(self._folder)] = "planforge/_compiled_templates"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:  # noqa: ARG002
        """Remove the temporary folder."""
        folder = getattr(self, "_folder", None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
