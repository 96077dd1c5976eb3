"""`planforge up --monitoring`: a real Prometheus (Debian's package) with the generated configuration and rules,
and the nginx exporter in front of the gateway's stub_status.

The generated ``monitoring/`` folder is copied unchanged into the state folder except its targets files (file_sd),
which are rewritten with the addresses this stack uses; Prometheus gets a fresh data folder and a free port.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from planforge.stack.spec import StackUsageError
from planforge.stack.tls import TlsFiles

__all__ = ["exporter_command", "monitoring_files", "program", "prometheus_command"]


def program(name: str) -> str:
    """The path of a program, or a StackUsageError saying which Debian package has it."""
    found = shutil.which(name) or next((p for p in (f"/usr/bin/{name}",) if Path(p).exists()), None)
    if found is None:
        package = "prometheus" if name == "prometheus" else name
        raise StackUsageError(f"{name} is not installed (Debian package {package}); install it or drop --monitoring")
    return found


def monitoring_files(
    generated: Path, folder: Path, services: dict[str, str], exporter: str | None, tls: TlsFiles | None = None
) -> tuple[Path, Path]:
    """The generated monitoring/ copied into folder with the stack's targets; (prometheus.yml, fresh data folder).

    With tls (mutual TLS), the services' job scrapes over HTTPS with that certificate and the stack's CA.
    """
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(generated / "monitoring", folder / "conf")
    if tls is not None:
        _scrape_services_over_tls(folder / "conf" / "prometheus.yml", tls)
    targets = folder / "conf" / "targets"
    (targets / "services.json").write_text(_retargeted(targets / "services.json", services))
    gateway = {"gateway": exporter} if exporter else {}
    (targets / "gateway.json").write_text(_retargeted(targets / "gateway.json", gateway))
    data = folder / "data"
    data.mkdir(parents=True)
    return folder / "conf" / "prometheus.yml", data


def _scrape_services_over_tls(config: Path, tls: TlsFiles) -> None:
    import yaml

    document = yaml.safe_load(config.read_text(encoding="utf-8"))
    for job in document.get("scrape_configs", []):
        if str(job.get("job_name", "")).endswith("-services"):
            job["scheme"] = "https"
            job["tls_config"] = {"ca_file": str(tls.ca), "cert_file": str(tls.certificate), "key_file": str(tls.key)}
    header = "# Written by `planforge up --mtls --monitoring`: the services are scraped over mutual TLS.\n"
    config.write_text(header + yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def _retargeted(path: Path, addresses: dict[str, str]) -> str:
    """The groups of a file_sd file whose `service` label runs here, each pointing at its address."""
    groups: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    kept = [
        {**group, "targets": [addresses[group["labels"]["service"]]]}
        for group in groups
        if group.get("labels", {}).get("service") in addresses
    ]
    return json.dumps(kept, indent=2) + "\n"


def prometheus_command(config: Path, data: Path, port: int) -> list[str]:
    """Prometheus on 127.0.0.1:port with its own data folder (nothing shared with a system Prometheus)."""
    return [
        program("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1d",
    ]


def exporter_command(status_url: str, port: int) -> list[str]:
    """prometheus-nginx-exporter reading the gateway's stub_status, serving /metrics on 127.0.0.1:port."""
    return [
        program("prometheus-nginx-exporter"),
        f"-nginx.scrape-uri={status_url}",
        f"-web.listen-address=127.0.0.1:{port}",
        "-nginx.retries=10",
        "-nginx.retry-interval=1s",
    ]
