"""schemathesis against every service app of one generated feature, in process (ASGI transport, no network).

Run by the property suite in a fresh process (the feature's packages must not meet another feature's in
sys.modules, and schemathesis runs its own hypothesis): `python service_checks.py ROOT EXAMPLES REPORT`. For every
operation, positive data must be accepted (anything but a 4xx other than 401/403/404/409/429; 501 stubs are
fine) and negative data rejected (4xx: it must not reach the handler's 501). Writes the failures to REPORT and
exits 1 when there is any. Redis keys go under a fresh prefix, removed at the end.
"""

from __future__ import annotations

import importlib
import sys
import uuid
from pathlib import Path
from typing import Any

import redis
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from planforge_testkit.testing import bearer, settings_for_tests
from schemathesis import GenerationMode
from schemathesis.checks import negative_data_rejection, positive_data_acceptance
from schemathesis.config._checks import NegativeDataRejectionConfig

PREFIX = f"planforge-property-{uuid.uuid4().hex}:"
# schemathesis counts any 5xx as a rejection; here invalid data must be refused before the handler (its 501).
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
CHECKS = {GenerationMode.POSITIVE: positive_data_acceptance, GenerationMode.NEGATIVE: negative_data_rejection}


def check_service(root: Path, package: str, examples: int) -> list[str]:
    """Failures of one service's operations, as 'service METHOD path mode: message'."""
    module = importlib.import_module(f"{package}.app")
    app = module.build_app(settings_for_tests(module.CONFIG, redis_key_prefix=PREFIX))
    auth = bearer(app)
    schema = schemathesis.openapi.from_path(root / "openapi" / f"{module.CONFIG.name}.yaml")
    schema.app = app
    schema.config.checks.negative_data_rejection = NegativeDataRejectionConfig(expected_statuses=REJECTED)
    # OpenAPI does not forbid undeclared query parameters; the token is always sent (AUTH), never generated.
    schema.config.generation.allow_extra_parameters = False
    schema.config.generation.with_security_parameters = False
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode, check in CHECKS.items():
            problem = _run(operation, mode, check, auth, examples)
            if problem:
                failures.append(f"{module.CONFIG.name} {operation.label} {mode.value}: {problem}")
    return failures


def _run(operation: Any, mode: GenerationMode, check: Any, auth: dict[str, str], examples: int) -> str | None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=auth, checks=[check])

    try:
        run()
    except Unsatisfiable:
        return None  # nothing to make invalid (no parameters and no body)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as failure:
        return f"{type(failure).__name__}: {str(failure).strip()[:1500]}"
    return None


def main() -> int:
    """Check every service under ROOT/services; clean the Redis prefix."""
    root, examples = Path(sys.argv[1]).resolve(), int(sys.argv[2])
    sys.path.insert(0, str(root / "services"))
    failures: list[str] = []
    try:
        for app in sorted((root / "services").glob("*/app.py")):
            failures += check_service(root, app.parent.name, examples)
    finally:
        client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        for key in client.scan_iter(match=f"{PREFIX}*"):
            client.delete(key)
    Path(sys.argv[3]).write_text("\n\n".join(failures), encoding="utf-8")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
