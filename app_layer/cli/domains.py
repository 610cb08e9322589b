"""Routing verbs: domains:add/list/remove (per app) and certs:add/list/remove (per user)."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import click

from app_layer.cli.client import USAGE, CliError, app_path
from app_layer.cli.common import app_of, app_option, client, verb
from app_layer.cli.output import json_option, note, show, table


@verb("domains:add")
@click.argument("domain")
@app_option
def domains_add(domain: str, app: str | None) -> None:
    """Route a custom domain to the app."""
    app_id = app_of(app)
    client().post(app_path(app_id, "domains"), {"domain": domain}, expect=(201,))
    note(f"Added {domain} to {app_id}")


@verb("domains:list")
@app_option
@json_option
def domains_list(app: str | None, as_json: bool) -> None:
    """The app's custom domains."""
    app_id = app_of(app)
    rows = list(client().pages(app_path(app_id, "domains")))
    show(rows, as_json, lambda rs: f"=== {app_id} Domains\n" + "\n".join(d["domain"] for d in rs))


@verb("domains:remove")
@click.argument("domain")
@app_option
def domains_remove(domain: str, app: str | None) -> None:
    """Stop routing a custom domain to the app."""
    app_id = app_of(app)
    client().delete(app_path(app_id, "domains", domain), expect=(204,))
    note(f"Removed {domain} from {app_id}")


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", USAGE) from None


@verb("certs:add")
@click.argument("certificate", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("key", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--common-name", help="default: the certificate's subject common name")
@json_option
def certs_add(certificate: Path, key: Path, common_name: str | None, as_json: bool) -> None:
    """Add a TLS certificate and its private key (PEM files) for the router."""
    body = {"certificate": _read(certificate), "key": _read(key)}
    if common_name:
        body["common_name"] = common_name
    cert = client().post("/v1/certs/", body, expect=(201,)).json()
    show(cert, as_json, lambda c: f"Added certificate for {c.get('common_name')} (expires {c.get('expires')})")


@verb("certs:list")
@json_option
def certs_list(as_json: bool) -> None:
    """Your TLS certificates."""
    rows = list(client().pages("/v1/certs/"))
    show(rows, as_json, lambda rs: table([(c.get("common_name"), c.get("expires")) for c in rs],
                                         ("COMMON NAME", "EXPIRES")))


@verb("certs:remove")
@click.argument("common_name")
def certs_remove(common_name: str) -> None:
    """Remove a TLS certificate by its common name."""
    client().delete(f"/v1/certs/{quote(common_name, safe='')}/", expect=(204,))
    note(f"Removed certificate {common_name}")
