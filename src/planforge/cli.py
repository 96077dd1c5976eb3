"""The planforge command line: validate, generate, check, schema, up, replay.

Exit codes, the same for every command, follow the type of the error that ends it (planforge.errors):
  0  success (warnings may have been printed)
  1  FindingsError: the manifest has errors, the output is stale (check), generate refused to overwrite a file
     a person edited, or a started service or the broker failed
  2  InputError: bad arguments, a manifest that cannot be read, output that cannot be written, an optional
     part of planforge that is not installed
  3  InternalError, or any other exception: a bug in planforge (please report it)
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from planforge.diagnostics import Diagnostic, format_diagnostics
from planforge.errors import EXIT_INTERNAL, FindingsError, InputError, InternalError, PlanforgeError

__all__ = ["app", "main"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="One YAML manifest per feature: the integration plan, services, API documents, broker and gateway.",
)


class Format(StrEnum):
    """How diagnostics are printed."""

    text = "text"
    json = "json"
    github = "github"


ManifestArg = Annotated[Path, typer.Argument(help="The feature manifest (YAML).", show_default=False)]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output root; files go to OUT/<slug>/.")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Diagnostics format.")]


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
def validate(manifest: ManifestArg, format: FormatOpt = Format.text) -> None:
    """Check a manifest and print every problem, located: FILE:LINE:COL: error CODE: message."""
    _validated(manifest, format)


@app.command()
def generate(
    manifest: ManifestArg,
    out: OutOpt = Path("generated"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite generated files that were edited by hand.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would change; write nothing.")] = False,
    format: FormatOpt = Format.text,
) -> None:
    """Validate the manifest and write OUT/<slug>/; only changed files are rewritten."""
    from planforge.output import apply, plan_writes

    slug, output, ref = _rendered(manifest, out, format)
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
        typer.echo(f"  write  {root / path}")
    for path in sorted(plan.user_created):
        typer.echo(f"  create {root / path}  (yours to edit)")
    for path in plan.removes:
        typer.echo(f"  remove {root / path}")
    typer.echo(
        f"{root}: {verb} {len(plan.writes)}, unchanged {len(plan.unchanged)}, "
        f"removed {len(plan.removes)}, user-owned created {len(plan.user_created)}"
    )


@app.command()
def check(manifest: ManifestArg, out: OutOpt = Path("generated"), format: FormatOpt = Format.text) -> None:
    """Exit 1 listing every missing, changed (with a diff) and extra file when OUT/<slug>/ is stale."""
    from planforge.output import check as compare

    slug, output, ref = _rendered(manifest, out, format)
    root = out / slug
    report = compare(output, root, ref)
    if report.clean:
        typer.echo(f"{root}: up to date ({len(output.owned)} files)")
        return
    for path in report.missing:
        typer.echo(f"missing: {root / path}")
    for path, diff in report.changed.items():
        typer.echo(f"changed: {root / path}")
        typer.echo(diff, nl=False)
    for path in report.extra:
        typer.echo(f"extra:   {root / path}  (no longer generated)")
    typer.echo(f"{root}: stale; run `planforge generate {manifest} -o {out}`", err=True)
    raise FindingsError()


@app.command()
def schema(
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the manifest reference in Markdown.")] = False,
) -> None:
    """Print the manifest JSON Schema (draft 2020-12), for editors and other tools."""
    if markdown:
        from planforge.schemadoc import schema_markdown

        sys.stdout.write(schema_markdown())
        return
    from planforge.resources import schema_path

    sys.stdout.write(schema_path().read_text(encoding="utf-8"))


@app.command()
def up(
    generated: Annotated[Path, typer.Argument(help="A generated feature folder: OUT/<slug>.", show_default=False)],
    port: Annotated[int, typer.Option("--port", help="The gateway's port.")] = 8080,
    state: Annotated[
        Path | None, typer.Option("--state", help="Keys, logs and gateway runtime (default: OUT/.planforge-up/<slug>).")
    ] = None,
    vhost: Annotated[str | None, typer.Option("--vhost", help="RabbitMQ vhost, created when missing.")] = None,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Start only this service (repeat for more).", show_default=False)
    ] = None,
    no_gateway: Annotated[bool, typer.Option("--no-gateway", help="Do not start the gateway.")] = False,
    db_prefix: Annotated[str, typer.Option("--db-prefix", help="Put this in front of every database name.")] = "",
    redis_prefix: Annotated[str, typer.Option("--redis-prefix", help="REDIS_KEY_PREFIX of every service.")] = "",
    free_ports: Annotated[
        bool, typer.Option("--free-ports", help="Run services on free ports, not the manifest's.")
    ] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds each service has to become ready.")] = 60.0,
    python: Annotated[
        str, typer.Option("--python", help="The Python that runs the services (default: planforge's own).")
    ] = "",
    monitoring: Annotated[
        bool, typer.Option("--monitoring", help="Also run Prometheus with monitoring/ (and the nginx exporter).")
    ] = False,
    mtls: Annotated[
        bool,
        typer.Option(
            "--mtls",
            help="Mutual TLS between gateway and services and between services, from a local CA in the state folder "
            "(always on when the manifest says security.service_auth: mtls).",
        ),
    ] = False,
    rotate_keys_every: Annotated[
        str | None,
        typer.Option(
            "--rotate-keys-every",
            help="Rotate the JWT signing keys this often (a duration: 90s, 12h, 30d); replaced keys keep passing "
            "for a token lifetime.",
            show_default=False,
        ),
    ] = None,
    token_lifetime: Annotated[
        str | None,
        typer.Option(
            "--token-lifetime",
            help="How long a replaced key keeps passing (default 16m: the services' 15-minute tokens and leeway).",
            show_default=False,
        ),
    ] = None,
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
        python=python,
        mtls=mtls,
        rotate_keys_every=_duration("--rotate-keys-every", rotate_keys_every),
        token_lifetime=_duration("--token-lifetime", token_lifetime),
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
def replay(
    generated: Annotated[Path, typer.Argument(help="A generated feature folder: OUT/<slug>.", show_default=False)],
    queue: Annotated[
        list[str] | None, typer.Option("--queue", help="Only this queue's dead letters (repeat for more).")
    ] = None,
    event: Annotated[list[str] | None, typer.Option("--event", help="Only events of this type (repeat).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only events at or after this ISO 8601 time.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Only events before this ISO 8601 time.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be replayed; move nothing.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Examine at most this many per queue.")] = None,
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
