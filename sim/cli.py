"""The ``ikesim`` command line.

A command's answer (a trace, a timeline, JSON, check results) goes to stdout; errors go to
stderr. Bad usage or invalid input is reported on stderr, every problem on its own line, with
exit status 2 and never a traceback. ``NO_COLOR`` is honoured (rich does it).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from sim import codes
from sim.conditions import conditions_for

if TYPE_CHECKING:
    from sim.scenario import Scenario
    from sim.simulator.engine import Simulation
    from sim.trace import Trace

Loaded = TypeVar("Loaded")
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

STYLES = {"title": "bold", "lost": "red", "again": "yellow", "outcome": "bold cyan", "timer": "magenta",
          "state": "dim", "recv": "", "send": "", "note": ""}  # fmt: skip


class UsageFailure(click.ClickException):
    """Bad usage or invalid input: reported on stderr, one problem a line, with exit status 2."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, lines: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.lines = list(lines)


def fail(message: str, lines: Sequence[str] = ()) -> NoReturn:
    """Stop the command: ``lines`` (each a whole problem) or the one-line ``message``; exit status 2."""
    raise UsageFailure(message, lines)


def _out() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _print_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _load(scenario: str) -> object:
    from sim.scenario import ScenarioError, load_scenario

    try:
        return load_scenario(scenario)
    except ScenarioError as error:
        fail(str(error), str(error).splitlines())


def _code_json(entry: codes.CodeInfo, with_scenarios: bool) -> dict[str, object]:
    data = entry.as_dict()
    data["conditions"] = [
        {"condition": c.key, "text": c.value.text, "convention": c.convention} for c in conditions_for(entry.code)
    ]
    data["local_fault"] = not entry.marker  # every code that is not a range marker can be injected
    if with_scenarios:
        from sim.library import codes_shown

        data["scenarios"] = list(codes_shown().get(entry.code, ()))
    return data


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ikesim", prog_name="ikesim")
def cli() -> None:
    """ikesim: simulate IKE negotiations and the Windows status codes they end in."""


@cli.command("codes")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the catalog as JSON, with the scenarios showing each code."
)
def codes_command(as_json: bool) -> None:
    """Print the whole catalog of ERROR_IPSEC_IKE_* codes (13800..13909)."""
    entries = codes.all_codes()
    if as_json:
        _print_json([_code_json(entry, with_scenarios=True) for entry in entries])
        return
    console = _out()
    for entry in entries:
        flag = "  [yellow](range marker)[/yellow]" if entry.marker else ""
        console.print(f"{entry.code}  {entry.hex}  {entry.short_name:<46} {escape(entry.message)}{flag}")


@cli.command("explain")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True, help="Print the entry as JSON.")
def explain_command(code: str, as_json: bool) -> None:
    """Explain one code, given as 13886, 0x363E, 0x8007363E or PEER_MM_ASSUMED_INVALID."""
    try:
        entry = codes.lookup(code)
    except codes.UnknownCodeError as error:
        fail(str(error))
    data = _code_json(entry, with_scenarios=True)
    if as_json:
        _print_json(data)
        return
    console = _out()
    console.print(f"[bold]{entry.name}[/bold]")
    console.print(f"  code      {entry.code}    hex {entry.hex}    HRESULT {entry.hresult}")
    console.print(f"  category  {entry.category.value}")
    console.print(f"  message   {escape(entry.message)}")
    if entry.marker_note:
        console.print(f"  [yellow]note[/yellow]      {escape(entry.marker_note)}")
    conditions = conditions_for(entry.code)
    if conditions:
        console.print("  in ikesim's model, reported when:")
        for condition in conditions:
            basis = " (a convention, not a Microsoft statement)" if condition.convention else ""
            console.print(f"    - {escape(condition.value.text)}{basis}")
    elif not entry.marker:
        console.print('  in ikesim\'s model: only through an injected local fault (kind = "local")')
    shown = data["scenarios"]
    assert isinstance(shown, list)
    if shown:
        console.print("  scenarios that show it: " + ", ".join(shown))


@cli.command("list")
def list_command() -> None:
    """List the scenario library, one line each."""
    from sim.library import scenarios
    from sim.scenario import prose

    loaded = scenarios()
    width = max((len(s.name) for s in loaded), default=10)
    for scenario in loaded:
        first = prose(scenario.description).split(". ")[0].rstrip(".")
        click.echo(f"{scenario.name:<{width}}  {first}")


def _stdout_formats() -> list[str]:
    from sim.outputs.registry import RENDERERS

    return [name for name, renderer in RENDERERS.items() if renderer.stdout]


@cli.command("run")
@click.argument("scenario")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Seed for random loss and jitter.")
@click.option("--format", "fmt", type=click.Choice(_stdout_formats()), default="text", show_default=True)
@click.option("--outcomes-only", is_flag=True,
              help="keep and print only the outcomes (other events are counted, not kept): for large runs")  # fmt: skip
def run_command(scenario: str, seed: int | None, fmt: str, outcomes_only: bool) -> int:
    """Run one scenario (a path, or the name of a library scenario) and print what happened.

    Exit status 1 when a limit cut the run short (unless the scenario's [limits] expects it).
    """
    from sim.outputs.registry import RENDERERS
    from sim.outputs.timeline import timeline
    from sim.scenario import Scenario
    from sim.simulator.engine import Simulation

    loaded = _load(scenario)
    assert isinstance(loaded, Scenario)
    simulation = Simulation(loaded, seed, events=not outcomes_only)
    trace = simulation.run()
    if fmt == "text":  # the timeline, coloured where the terminal shows colour
        console = _out()
        for style, text in timeline(trace):
            console.print(f"[{style}]{escape(text)}[/{style}]" if STYLES.get(style) else escape(text), style=None)
    else:
        [data] = RENDERERS[fmt].render(trace).values()
        sys.stdout.write(data.decode())
    cut = _cut_short(loaded, simulation)
    if cut is not None:
        sys.stdout.flush()
        click.echo(f"ikesim: {cut}", err=True)
        return EXIT_FAILED
    return EXIT_OK


def _cut_short(scenario: Scenario, simulation: Simulation) -> str | None:
    """What to say of a run a limit cut short, unless the scenario expects it; None for a whole run."""
    if simulation.truncated is None or scenario.limits.cut_expected:
        return None
    left = simulation.open_negotiations()
    return (f"{scenario.name}: run cut short: {simulation.truncated} at {simulation.queue.now:g} s, with {left} "
            f"negotiation{'s' if left != 1 else ''} still open; raise it in [limits], or set cut_expected = true "
            "there if the cut is the point")  # fmt: skip


def _scenario_paths(paths: Sequence[str], allow_names: bool = False) -> list[Path]:
    """Scenario files from paths (folders are searched for *.toml); library names where allowed."""
    from sim.library import scenario_files
    from sim.scenario import library_dir

    if not paths:
        return scenario_files()
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found += scenario_files(path)
        elif allow_names and not path.exists() and (library_dir() / f"{given}.toml").exists():
            found.append(library_dir() / f"{given}.toml")
        else:
            found.append(path)
    return found


def _load_all(files: Sequence[Path], load: Callable[[Path], Loaded]) -> list[Loaded]:
    """Load every file with ``load``, or stop with every problem of every file."""
    from sim.errors import IkesimError

    loaded: list[Loaded] = []
    problems: list[str] = []
    for path in files:
        try:
            loaded.append(load(path))
        except IkesimError as error:
            problems += str(error).splitlines()
    if problems:
        fail(problems[0], problems)
    return loaded


def _scenario_or_trace(path: Path) -> Scenario | Trace:
    """A saved ``.jsonl`` trace, else a scenario."""
    from sim.scenario import load_scenario
    from sim.trace import load_trace

    return load_trace(path) if path.suffix == ".jsonl" else load_scenario(path)


@cli.command("check")
@click.argument("paths", nargs=-1)
def check_command(paths: tuple[str, ...]) -> int:
    """Run scenarios and check their [expect]; exit 1 when one fails. Default: the whole library."""
    from sim.expectations import check
    from sim.simulator.engine import Simulation

    files = _scenario_paths(paths)
    if not files:
        fail(f"no scenario files in {', '.join(paths)}")
    from sim.scenario import load_scenario

    loaded = _load_all(files, load_scenario)
    failed = unchecked = 0
    for scenario in loaded:
        simulation = Simulation(scenario)
        mismatches = check(scenario, simulation.run())
        cut = _cut_short(scenario, simulation)
        if cut is not None:
            failed += 1
            click.echo(f"FAIL  {scenario.name}\n      {cut}")
        elif mismatches:
            failed += 1
            click.echo(f"FAIL  {scenario.name}")
            for m in mismatches:
                click.echo(f"      {m.peer} {m.sa} {m.field}")
                click.echo(f"        - expected: {m.expected}")
                click.echo(f"        + actual:   {m.actual}")
        elif not scenario.expect:
            unchecked += 1
            click.echo(f"ran   {scenario.name} (no [expect] to check)")
        else:
            click.echo(f"ok    {scenario.name}")
    without = f", {unchecked} without [expect]" if unchecked else ""
    click.echo(f"{len(loaded) - failed - unchecked} passed, {failed} failed{without}")
    return EXIT_FAILED if failed else EXIT_OK


@cli.command("diagram")
@click.argument("machine", required=False)
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True)
def diagram_command(machine: str | None, fmt: str) -> None:
    """Print the state diagram of a machine, drawn from its table; without MACHINE, list them."""
    from sim.outputs.diagrams import diagram, machines

    names = machines()
    if machine is None:
        click.echo("\n".join(names))
        return
    if machine not in names:
        fail(f"no machine named {machine!r}; machines: {', '.join(names)}")
    sys.stdout.write(diagram(machine, fmt))


def _formats(value: str) -> tuple[str, ...]:
    from sim.outputs.registry import FORMATS

    chosen = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        fail(f"--formats: unknown format {', '.join(unknown) or '(none)'}; choose from {','.join(FORMATS)}")
    return chosen


@cli.command("fixtures")
@click.argument("paths", nargs=-1, required=True)
@click.option("-o", "--output", "output", required=True, type=click.Path(file_okay=False), help="Folder to write to.")
@click.option("--formats", default="jsonl,text,mermaid,evtx,wfp,pcap", show_default=True,
              help="Comma-separated; also evtx-rendered (the audit events as Event Viewer renders them).")  # fmt: skip
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Seed for every scenario (default: their own).")
def fixtures_command(paths: tuple[str, ...], output: str, formats: str, seed: int | None) -> None:
    """Write fixture files (trace, timeline, diagram, Windows events, WFP events, pcap) for scenarios.

    PATHS are scenarios (files, folders, library names) or JSONL traces saved by ``ikesim run
    --format jsonl``: a saved trace gives the same files, byte for byte, as the run that made it.
    """
    from rich.progress import Progress

    from sim.outputs.registry import file_name, write_fixtures
    from sim.simulator.engine import Simulation
    from sim.trace import Trace

    chosen = _formats(formats)
    if Path(output).exists() and not Path(output).is_dir():
        fail(f"-o {output}: not a directory; give a folder (it is made if it does not exist)")
    if seed is not None and any(p.endswith(".jsonl") for p in paths):
        fail("--seed: a saved trace keeps the seed of the run that made it; give --seed with scenarios only")
    scenario_paths = [p for p in paths if not p.endswith(".jsonl")]
    files = [Path(p) for p in paths if p.endswith(".jsonl")]
    files += _scenario_paths(scenario_paths, allow_names=True) if scenario_paths else []
    if not files:
        fail(f"no scenario files in {', '.join(paths)}")
    loaded = _load_all(files, _scenario_or_trace)
    folders: dict[str, list[str]] = {}
    for path, item in zip(files, loaded, strict=True):
        folders.setdefault(file_name(item.scenario if isinstance(item, Trace) else item.name), []).append(str(path))
    clashes = [f"{', '.join(paths)}: all named {name!r}; their fixtures would overwrite each other"
               for name, paths in folders.items() if len(paths) > 1]  # fmt: skip
    if clashes:
        fail(clashes[0], clashes)
    console = Console(stderr=True)
    with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("writing fixtures", total=len(loaded))
        for item in loaded:
            trace = item if isinstance(item, Trace) else Simulation(item, seed).run()
            write_fixtures(trace, Path(output) / file_name(trace.scenario), chosen)
            progress.advance(task)
    click.echo(f"wrote fixtures for {len(loaded)} runs to {output}", err=True)


def _served_profiles() -> list[str]:
    from sim.protocol.profiles import PROFILES

    return [name for name, profile in PROFILES.items() if profile.served]


def _listen_address(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        fail(f"--listen {value!r}: expected HOST:PORT, for example 127.0.0.1:500")
    return host.strip("[]"), int(port)


@cli.command("serve")
@click.option("--profile", default=None, help=f"{', '.join(_served_profiles())} (default: the scenario's, or windows)")
@click.option("--listen", "listen", default="127.0.0.1:500", show_default=True, help="HOST:PORT to answer on")
@click.option("--natt-port", type=click.IntRange(min=-1, max=65535), default=None,
              help="the NAT-T port (UDP 4500 with port 500, else PORT+4000; -1: none)")  # fmt: skip
@click.option("--protocol", type=click.Choice(["ikev1", "ikev2"]), default=None,
              help="the IKE version to answer (default: the scenario responder's, else ikev1)")  # fmt: skip
@click.option("--scenario", default=None, help="take the responder's policy (and profile) from this scenario")
@click.option("--time-scale", type=click.FloatRange(min=0.001, max=1000.0), default=1.0, show_default=True,
              help="real seconds per profile second (0.1 runs the schedule ten times faster)")  # fmt: skip
@click.option("--stop-after", type=click.FloatRange(min=0.0), default=None, help="stop after this many real seconds")
@click.option("--outcomes-only", is_flag=True, help="print only the outcome lines")
@click.option("--max-per-address", type=click.IntRange(min=1), default=64, show_default=True,
              help="negotiations kept per source address")  # fmt: skip
def serve_command(
    profile: str | None,
    listen: str,
    natt_port: int | None,
    protocol: str | None,
    scenario: str | None,
    time_scale: float,
    stop_after: float | None,
    outcomes_only: bool,
    max_per_address: int,
) -> None:
    """Answer real IKEv1 or IKEv2 initiators on UDP, as a responder of the profile's implementation.

    It listens on the IKE port and on the NAT-T port (4500 with 500). Every event is printed as
    an ikesim.trace/1 line on stdout; Ctrl-C stops.
    """
    import asyncio

    from sim.live.responder import Limits, responder_for
    from sim.live.server import line_writer, serve

    host, port = _listen_address(listen)
    loaded = _load(scenario) if scenario is not None else None
    emit = line_writer(sys.stdout, frozenset({"outcome"}) if outcomes_only else None)
    try:
        responder = responder_for(profile, loaded, emit, Limits(per_address=max_per_address), protocol)
    except ValueError as error:
        fail(str(error))
    natt_bound: list[tuple[str, int]] = []

    def ready(bound: tuple[str, int]) -> None:
        natt = f" and {natt_bound[0][0]}:{natt_bound[0][1]} (NAT-T)" if natt_bound else ""
        click.echo(f"ikesim serve: listening on {bound[0]}:{bound[1]}{natt} as a {responder.profile} "
                   f"{responder.version} responder (time scale {time_scale:g})", err=True)  # fmt: skip

    try:
        asyncio.run(serve(responder, host, port, time_scale, stop_after, ready, natt_port, natt_bound.append))
    except OSError as error:
        hint = " (ports below 1024 need root: try --listen 127.0.0.1:5000)" if error.errno == 13 else ""
        fail(f"cannot listen on {host}:{port}: {error.strerror or error}{hint}")
    except KeyboardInterrupt:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    return run_click(cli, argv)


def run_click(command: Callable[..., object], argv: Sequence[str] | None) -> int:
    """Run a click command in non-standalone mode so that every error is reported cleanly."""
    assert isinstance(command, click.Command)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = command.main(args=args, prog_name="ikesim", standalone_mode=False)
        sys.stdout.flush()  # here, so that a failed write is reported like any other error
    except click.exceptions.NoArgsIsHelpError as shown:  # a bare `ikesim`: show the help
        click.echo(shown.ctx.get_help() if shown.ctx else shown.format_message(), err=True)
        return EXIT_USAGE
    except UsageFailure as error:
        for line in error.lines or [f"ikesim: error: {error.format_message()}"]:
            click.echo(line, err=True)
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
    except BrokenPipeError:  # `ikesim run ... | head`
        _discard_stdout()
        return EXIT_OK
    except OSError as error:  # an output that cannot be written: a full disk, /dev/full, an unwritable folder
        _discard_stdout()
        where = f" {error.filename}" if error.filename else " to standard output"
        click.echo(f"ikesim: error: cannot write{where}: {error.strerror or error}", err=True)
        return EXIT_USAGE
    return result if isinstance(result, int) else EXIT_OK


def _discard_stdout() -> None:
    """Send what is still buffered for stdout nowhere, so that the interpreter's last flush cannot fail."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file behind stdout (a test's capture): nothing to protect
        pass


def entry_point() -> None:
    """The console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    entry_point()
