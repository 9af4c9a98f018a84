"""The ``habla`` command. Each sub-command lives in its own module and registers itself here.

Errors from the domain (HablaError) become one line on stderr and the error's exit code; never a traceback.
"""

from __future__ import annotations

import logging
import sys

import typer
from rich.console import Console

from habla.errors import HablaError

app = typer.Typer(name="habla", help="Local-first speech AI: transcribe, serve, ask, speak, talk. Fully offline.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  rich_markup_mode=None)  # help texts are plain: "[mm:ss]" and "habla[finetune]" stay as written
err_console = Console(stderr=True)


def fail(error: HablaError) -> typer.Exit:
    """Print a HablaError as one line and return the Exit to raise."""
    hint = f"\n  [dim]hint: {error.hint}[/]" if error.hint else ""
    err_console.print(f"[bold red]error:[/] {error.message}{hint}", highlight=False)
    return typer.Exit(error.exit_code)


@app.callback()
def _main(verbose_logs: bool = typer.Option(False, "--debug", help="Show debug logs.")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose_logs else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


def _register_commands() -> None:
    # One module per command; each defines register(app).
    from habla.cli import assistant, bench, config_cmd, finetune, models, serve, speak, talk, transcribe, worker

    for module in (transcribe, models, bench, config_cmd, serve, worker, assistant, speak, talk, finetune):
        module.register(app)


_register_commands()


def run() -> None:
    try:
        app()
    except HablaError as exc:  # raised outside a command's own handling
        raise SystemExit(fail(exc).exit_code) from None
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a bug: one line for the user, the traceback only with --debug
        if "--debug" in sys.argv:
            raise
        err_console.print(f"[bold red]internal error:[/] {type(exc).__name__}: {exc} (run with --debug for details)",
                          highlight=False)
        sys.exit(70)


if __name__ == "__main__":
    run()
