"""``habla config``: print the effective configuration (defaults, .env and HABLA_* variables merged)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import typer

from habla.config import load_settings


def config(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of env-style lines.")) -> None:
    """Print the effective configuration."""
    settings = load_settings()
    data = json.loads(settings.model_dump_json())
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    for key, value in _flatten(data):
        typer.echo(f"HABLA_{key.upper()}={'' if value is None else value}")


def _flatten(data: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in data.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}__")
        else:
            yield f"{prefix}{key}", json.dumps(value) if isinstance(value, list) else value


def register(app: typer.Typer) -> None:
    app.command("config")(config)
