"""The ``ikesim`` command line.

Machine output (JSON, traces) goes to stdout, human output to stderr only where it is not the
answer itself; bad usage or invalid input is one line on stderr and exit status 2, never a
traceback. ``NO_COLOR`` is honoured (rich does it).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

import click
from rich.console import Console

from sim import codes

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageFailure(click.ClickException):
    """Bad usage or invalid input: reported on one line with exit status 2."""

    exit_code = EXIT_USAGE


def fail(message: str) -> NoReturn:
    """Stop the command with a one-line message and exit status 2."""
    raise UsageFailure(message)


def _out() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _print_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _entry_text(entry: codes.CodeInfo, console: Console) -> None:
    console.print(f"[bold]{entry.name}[/bold]")
    console.print(f"  code      {entry.code}    hex {entry.hex}    HRESULT {entry.hresult}")
    console.print(f"  category  {entry.category.value}")
    console.print(f"  message   {entry.message}")
    if entry.marker_note:
        console.print(f"  [yellow]note[/yellow]      {entry.marker_note}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ikesim", prog_name="ikesim")
def cli() -> None:
    """ikesim: simulate IKE negotiations and the Windows status codes they end in."""


@cli.command("codes")
@click.option("--json", "as_json", is_flag=True, help="Print the catalog as JSON.")
def codes_command(as_json: bool) -> None:
    """Print the whole catalog of ERROR_IPSEC_IKE_* codes (13800..13909)."""
    entries = codes.all_codes()
    if as_json:
        _print_json([entry.as_dict() for entry in entries])
        return
    console = _out()
    for entry in entries:
        flag = "  [yellow](range marker)[/yellow]" if entry.marker else ""
        console.print(f"{entry.code}  {entry.hex}  {entry.short_name:<46} {entry.message}{flag}")


@cli.command("explain")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True, help="Print the entry as JSON.")
def explain_command(code: str, as_json: bool) -> None:
    """Explain one code, given as 13886, 0x363E, 0x8007363E or PEER_MM_ASSUMED_INVALID."""
    try:
        entry = codes.lookup(code)
    except codes.UnknownCodeError as error:
        fail(str(error))
    if as_json:
        _print_json(entry.as_dict())
        return
    _entry_text(entry, _out())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    return run_click(cli, argv)


def run_click(command: Callable[..., object], argv: Sequence[str] | None) -> int:
    """Run a click command in non-standalone mode so that every error is one clean line."""
    assert isinstance(command, click.Command)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = command.main(args=args, prog_name="ikesim", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as shown:  # a bare `ikesim`: show the help
        click.echo(shown.ctx.get_help() if shown.ctx else shown.format_message(), err=True)
        return EXIT_USAGE
    except click.ClickException as error:
        ctx = getattr(error, "ctx", None)
        where = f"{ctx.command_path}: " if ctx is not None and ctx.command_path != "ikesim" else "ikesim: "
        click.echo(f"{where}error: {error.format_message()}", err=True)
        return error.exit_code if error.exit_code else EXIT_USAGE
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.Abort:
        click.echo("ikesim: aborted", err=True)
        return EXIT_USAGE
    return result if isinstance(result, int) else EXIT_OK


def entry_point() -> None:
    """The console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    entry_point()
