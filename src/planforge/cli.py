"""The planforge command line: validate, generate, check, schema, up, replay.

Exit codes, the same for every command, follow the type of the error that ends it (planforge.errors):
  0  success (warnings may have been printed)
  1  FindingsError: the manifest has errors, the output is stale (check), generate refused to overwrite a file
     a person edited, or a started service or the broker failed
  2  InputError: bad arguments, a manifest that cannot be read, output that cannot be written, an optional
     part of planforge that is not installed
  3  InternalError, or any other exception: a bug in planforge (please report it)

Built on click directly: every command runs on each save and in every CI job, and typer's parameter
conversion imports pydantic and builds a TypeAdapter per parameter (about 0.2 s a run).
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import click

from planforge.diagnostics import Diagnostic, format_diagnostics
from planforge.errors import EXIT_INTERNAL, FindingsError, InputError, InternalError, PlanforgeError

__all__ = ["app", "main"]


class _Commands(click.Group):
    """Commands listed in the order they are defined (validate, generate, check, ...), not sorted."""

    def list_commands(self, ctx: click.Context) -> list[str]:  # noqa: ARG002 (click's signature)
        """The commands in definition order."""
        return list(self.commands)


@click.group(
    cls=_Commands,
    context_settings={"help_option_names": ["--help"], "max_content_width": 100, "terminal_width": 100},
    no_args_is_help=True,
    help="One YAML manifest per feature: the integration plan, services, API documents, broker and gateway.",
)
def app() -> None:
    """The command group."""


class Format(StrEnum):
    """How diagnostics are printed."""

    text = "text"
    json = "json"
    github = "github"


def _manifest_arg(command: Any) -> Any:
    return click.argument("manifest", type=click.Path(path_type=Path))(command)


def _out_opt(command: Any) -> Any:
    return click.option(
        "--out",
        "-o",
        type=click.Path(path_type=Path),
        default=Path("generated"),
        show_default=True,
        help="Output root; files go to OUT/<slug>/.",
    )(command)


def _format_opt(command: Any) -> Any:
    return click.option(
        "--format",
        "-f",
        "fmt",
        type=click.Choice([f.value for f in Format]),
        default=Format.text.value,
        show_default=True,
        help="Diagnostics format.",
    )(command)


def _emit(diagnostics: list[Diagnostic], fmt: Format) -> None:
    if diagnostics or fmt is Format.json:
        sys.stderr.write(format_diagnostics(diagnostics, fmt.value))


def _existing(manifest: Path) -> None:
    if not manifest.is_file():
        raise InputError(f"{manifest}: no such manifest file")


def _validated(manifest: Path, fmt: Format):  # type: ignore[no-untyped-def]
    """The loaded document; the load error, or a FindingsError, once the diagnostics are printed."""
    from planforge.pipeline import validate

    _existing(manifest)
    result = validate(manifest, str(manifest))
    _emit(result.diagnostics, fmt)
    if result.failure is not None:
        raise result.failure.reported()  # its diagnostics are printed above
    if not result.ok:
        raise FindingsError()
    return result.document


def _rendered(manifest: Path, out: Path, fmt: Format):  # type: ignore[no-untyped-def]
    """The slug, the files and the manifest reference; raises as _validated does on a bad manifest."""
    from planforge.pipeline import generate_files, manifest_ref

    _existing(manifest)
    ref = manifest_ref(manifest, out)
    result = generate_files(manifest, str(manifest), ref)
    _emit(result.diagnostics, fmt)
    if result.failure is not None:
        raise result.failure.reported()  # its diagnostics are printed above
    if result.slug is None or result.output is None:
        raise FindingsError()
    return result.slug, result.output, ref


@app.command()
@_manifest_arg
@_format_opt
def validate(manifest: Path, fmt: str) -> None:
    """Check a manifest and print every problem, located: FILE:LINE:COL: error CODE: message."""
    _validated(manifest, Format(fmt))


@app.command()
@_manifest_arg
@_out_opt
@click.option("--force", is_flag=True, help="Overwrite generated files that were edited by hand.")
@click.option("--dry-run", "dry_run", is_flag=True, help="Print what would change; write nothing.")
@_format_opt
def generate(manifest: Path, out: Path, force: bool, dry_run: bool, fmt: str) -> None:
    """Validate the manifest and write OUT/<slug>/; only changed files are rewritten."""
    from planforge.output import apply, plan_writes

    slug, output, ref = _rendered(manifest, out, Format(fmt))
    root = out / slug
    plan = plan_writes(output, root, ref, force=force)
    if plan.conflicts:
        for conflict in plan.conflicts:
            sys.stderr.write(
                f"{root / conflict.path}: error PF901: {conflict.reason}; not overwritten "
                "(move your change into the manifest or a user-owned file, or use --force)\n"
            )
        raise FindingsError()
    for path in plan.kept_edited:
        sys.stderr.write(f"{root / path}: warning PF902: no longer generated but edited by hand; left in place\n")
    if not dry_run:
        try:
            apply(plan)
        except OSError as exc:
            raise InputError(f"cannot write {root}: {exc.strerror or exc}; nothing was changed") from None
    _summary(root, plan, dry_run)


def _summary(root: Path, plan, dry_run: bool) -> None:  # type: ignore[no-untyped-def]
    verb = "would write" if dry_run else "wrote"
    for path in sorted(plan.writes):
        click.echo(f"  write  {root / path}")
    for path in sorted(plan.user_created):
        click.echo(f"  create {root / path}  (yours to edit)")
    for path in plan.removes:
        click.echo(f"  remove {root / path}")
    click.echo(
        f"{root}: {verb} {len(plan.writes)}, unchanged {len(plan.unchanged)}, "
        f"removed {len(plan.removes)}, user-owned created {len(plan.user_created)}"
    )


@app.command()
@_manifest_arg
@_out_opt
@_format_opt
def check(manifest: Path, out: Path, fmt: str) -> None:
    """Exit 1 listing every missing, changed (with a diff) and extra file when OUT/<slug>/ is stale."""
    from planforge.output import check as compare

    slug, output, ref = _rendered(manifest, out, Format(fmt))
    root = out / slug
    report = compare(output, root, ref)
    if report.clean:
        click.echo(f"{root}: up to date ({len(output.owned)} files)")
        return
    for path in report.missing:
        click.echo(f"missing: {root / path}")
    for path, diff in report.changed.items():
        click.echo(f"changed: {root / path}")
        click.echo(diff, nl=False)
    for path in report.extra:
        click.echo(f"extra:   {root / path}  (no longer generated)")
    click.echo(f"{root}: stale; run `planforge generate {manifest} -o {out}`", err=True)
    raise FindingsError()


@app.command()
@click.option("--markdown", is_flag=True, help="Print the manifest reference in Markdown.")
def schema(markdown: bool) -> None:
    """Print the manifest JSON Schema (draft 2020-12), for editors and other tools."""
    if markdown:
        from planforge.schemadoc import schema_markdown

        sys.stdout.write(schema_markdown())
        return
    from planforge.resources import schema_path

    sys.stdout.write(schema_path().read_text(encoding="utf-8"))


@app.command()
@click.argument("generated", type=click.Path(path_type=Path))
@click.option("--port", type=int, default=8080, show_default=True, help="The gateway's port.")
@click.option(
    "--state",
    type=click.Path(path_type=Path),
    help="Keys, logs and gateway runtime (default: OUT/.planforge-up/<slug>).",
)
@click.option("--vhost", help="RabbitMQ vhost, created when missing.")
@click.option("--only", multiple=True, help="Start only this service (repeat for more).")
@click.option("--no-gateway", "no_gateway", is_flag=True, help="Do not start the gateway.")
@click.option("--db-prefix", "db_prefix", default="", help="Put this in front of every database name.")
@click.option("--redis-prefix", "redis_prefix", default="", help="REDIS_KEY_PREFIX of every service.")
@click.option("--free-ports", "free_ports", is_flag=True, help="Run services on free ports, not the manifest's.")
@click.option(
    "--timeout", type=float, default=60.0, show_default=True, help="Seconds each service has to become ready."
)
@click.option("--monitoring", is_flag=True, help="Also run Prometheus with monitoring/ (and the nginx exporter).")
@click.option(
    "--mtls",
    is_flag=True,
    help="Mutual TLS between gateway and services and between services, from a local CA in the state folder "
    "(always on when the manifest says security.service_auth: mtls).",
)
@click.option(
    "--rotate-keys-every",
    "rotate_keys_every",
    help="Rotate the JWT signing keys this often (a duration: 90s, 12h, 30d); replaced keys keep passing "
    "for a token lifetime.",
)
@click.option("--python", default="", help="The Python that runs the services (default: planforge's own).")
@click.option(
    "--token-lifetime",
    "token_lifetime",
    help="How long a replaced key keeps passing (default 16m: the services' 15-minute tokens and leeway).",
)
def up(
    generated: Path,
    port: int,
    state: Path | None,
    vhost: str | None,
    only: tuple[str, ...],
    no_gateway: bool,
    db_prefix: str,
    redis_prefix: str,
    free_ports: bool,
    timeout: float,
    monitoring: bool,
    mtls: bool,
    rotate_keys_every: str | None,
    python: str,
    token_lifetime: str | None,
) -> None:
    """Run the feature on this machine until Ctrl-C: every service (uvicorn) and the gateway (nginx), in order.

    Datastores: PLANFORGE_POSTGRES_URL (admin URL; missing databases are created), REDIS_URL, AMQP_URL.

    Exit 0 when stopped by Ctrl-C or SIGTERM, 1 when something failed or exited, 2 for bad input.
    """
    from planforge.stack import Options, run

    options = Options(
        port=port,
        state=state,
        vhost=vhost,
        only=tuple(only or ()),
        gateway=not no_gateway,
        db_prefix=db_prefix,
        redis_prefix=redis_prefix,
        free_ports=free_ports,
        monitoring=monitoring,
        timeout=timeout,
        mtls=mtls,
        rotate_keys_every=_duration("--rotate-keys-every", rotate_keys_every),
        token_lifetime=_duration("--token-lifetime", token_lifetime),
        python=python,
    )
    run(generated, options)


def _duration(option: str, text: str | None) -> float | None:
    """Seconds of a duration option (90s, 12h, 30d); an InputError (exit 2) when it is not one."""
    if text is None:
        return None
    from planforge.units import seconds

    try:
        value = seconds(text)
    except (ValueError, KeyError, IndexError):
        value = 0.0
    if value <= 0:
        raise InputError(f"{option} {text!r}: give a positive duration such as 90s, 12h or 30d")
    return value


@app.command()
@click.argument("generated", type=click.Path(path_type=Path))
@click.option("--queue", multiple=True, help="Only this queue's dead letters (repeat for more).")
@click.option("--event", multiple=True, help="Only events of this type (repeat).")
@click.option("--since", help="Only events at or after this ISO 8601 time.")
@click.option("--until", help="Only events before this ISO 8601 time.")
@click.option("--dry-run", "dry_run", is_flag=True, help="Count what would be replayed; move nothing.")
@click.option("--limit", type=click.IntRange(min=1), help="Examine at most this many per queue.")
def replay(
    generated: Path,
    queue: tuple[str, ...],
    event: tuple[str, ...],
    since: str | None,
    until: str | None,
    dry_run: bool,
    limit: int | None,
) -> None:
    """Move dead-lettered events back to the queues they failed on, after a fix; consumers process each once.

    The broker is AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/). Exit 0 when done, 1 when the broker
    failed, 2 for bad input.
    """
    from planforge.stack.replay import ReplayOptions, run_replay

    options = ReplayOptions(
        amqp_url=os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
        queues=tuple(queue or ()),
        event_types=tuple(event or ()),
        since=since,
        until=until,
        dry_run=dry_run,
        limit=limit,
    )
    run_replay(generated, options, sys.stdout)


def main() -> None:
    """Entry point: every failure ends with one line and the exit code of its kind (planforge.errors)."""
    try:
        app()
    except SystemExit:
        raise
    except Exception as exc:
        error = _as_planforge_error(exc)
        if error.exit_code == EXIT_INTERNAL:
            if os.environ.get("PLANFORGE_DEBUG"):
                raise
            sys.stderr.write(
                f"planforge: internal error: {error.message} (a bug in planforge: please report it; "
                "PLANFORGE_DEBUG=1 shows the traceback)\n"
            )
        elif error.message:  # '' when the command printed its own report (diagnostics, a diff)
            sys.stderr.write(f"planforge: {error.message}\n")
        sys.exit(error.exit_code)


def _as_planforge_error(exc: Exception) -> PlanforgeError:
    """The error as one of the family: a missing declared dependency is an InputError, anything else a bug."""
    if isinstance(exc, PlanforgeError):
        return exc
    if isinstance(exc, ImportError):  # also importlib.metadata's PackageNotFoundError
        from planforge.installed import missing_part

        missing = missing_part(exc)
        if missing is not None:
            return missing
    return InternalError(f"{type(exc).__name__}: {exc}")
