"""Generate the parts of ``docs/`` that come from the code: ``python -m sim.tools.docs`` (``make docs``).

Machine pages (diagram and table), one page per code, the scenario index and the page on
made-up code names are written from the tables, the catalog, the conditions and the library; a
test fails when the committed files differ from what this produces. Hand-written pages may hold
generated blocks between ``<!-- generated: KIND NAME -->`` and ``<!-- end generated -->``.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sim import codes
from sim.codes import Category
from sim.conditions import Condition, conditions_for
from sim.library import codes_shown, scenarios
from sim.outputs.diagrams import diagram, machines, state_tags
from sim.outputs.mermaid import sequence_diagram
from sim.outputs.timeline import timeline
from sim.protocol.registry import TABLES
from sim.scenario import SUCCESS, Scenario, prose
from sim.simulator.engine import Simulation

DOCS = Path(__file__).resolve().parents[2] / "docs"
TIMELINE_LINES = 45

ADVICE = {
    Category.MARKER: "Nothing went wrong: ignore it, or count it as a success.",
    Category.TIMEOUT: "The peer did not answer. Retry later, with backoff; "
    "alert if it lasts (the peer or the path is down).",
    Category.QUEUE: "The local IKE service was overloaded. Retry later; alert if it repeats.",
    Category.AUTHENTICATION: "Credentials are wrong on one side. Do not retry blindly: alert an administrator, and "
    "read the other peer's log too (a notify hides the real reason).",
    Category.CERTIFICATE: "A certificate problem: alert. Retrying will not help until the certificate or the trusted "
    "roots change.",
    Category.PROPOSAL: "The two peers' policies do not match. Alert: this is configuration, not chance.",
    Category.CRYPTO: "A cryptographic mismatch or failure. Alert; check the proposals and Diffie-Hellman groups.",
    Category.PACKET: "A damaged or unexpected packet. Log it; many in a row suggest a broken middlebox or an attack.",
    Category.SA_LIFECYCLE: "An SA ended or was replaced. Usually a new negotiation follows on its own: log it.",
    Category.LIMIT: "A limit was reached. Retry later; alert if it repeats (capacity or abuse).",
    Category.LOCAL: "The local machine failed. Alert the machine's administrator; the peer is not at fault.",
    Category.TUNNEL: "A remote-access tunnel configuration problem. See the page for what to do.",
    Category.AUTHORIZATION: "The peer is authenticated but not allowed. Alert; retrying will not help.",
}

FULLER = {
    13886: """
This is the code of a dead peer. A main-mode SA (or an IKEv2 IKE SA) was up, so the peer had
answered before; then a negotiation under it, a quick mode or a liveness check, sent its message
again and again and never got an answer. Windows concludes that the main-mode SA is no longer
valid: the quick mode fails with 13886, and the main-mode SA ends with it.

Compare it with its neighbours: 13813 DROP_NO_RESPONSE means the peer never answered at all (the
very first message went unanswered), and 13805 TIMED_OUT means it went silent in the middle of a
negotiation. 13886 is the one you see when something between the peers (a firewall, a NAT, a
crashed gateway) forgot the peers after main mode. A handler should retry: a new main mode will
find out whether the peer is back. The name ERROR_IPSEC_IKE_PEER_MM_NO_RESPONSE that some pages
give for this situation does not exist.
""",
    13897: """
13897 is not an error: it is NEG_STATUS_END, the upper bound of the original range of IKE
statuses (IKEEXT_ERROR_CODE_COUNT = 13897 - 13800 = 97 sizes a public statistics table, which is
why the SDK says never to change it). ikesim reports it, by convention, for every negotiation that
reaches its end with no failure: a main mode, a quick mode, an IKEv2 IKE SA or child SA that came
up. Windows itself does not log successes with this code; treat it as "success" in your handler.
""",
    13898: """
NAP (Network Access Protection) IPsec enforcement gave a client without a health certificate a
restricted, "dummy" IKEv2 tunnel, enough to reach remediation servers. Once the client remediated
and reauthenticated, the full tunnel came up and the dummy tunnel had to go: that deletion is
13898, "NAP reauth succeeded and must delete the dummy NAP IKEv2 tunnel". It is good news. No
public document describes the dummy tunnel beyond that message, so ikesim's model (a restricted
tunnel, remediation after a configurable time, reauthentication with a new IKE SA, the old one
deleted by the responder) is its own. NAP is absent from Windows 10 on.
""",
    13899: """
An IKEv2 remote-access client asked for an inner address (a configuration payload, CFG_REQUEST)
and the gateway could not give one: its pool is empty or every address is leased. The gateway
answers with the notify INTERNAL_ADDRESS_FAILURE (36). As RFC 7296 section 3.15.4 says (and
strongSwan does), the IKE SA is still created; only the first child SA, the one that would carry
the traffic, is not. So a client sees 13897 for the IKE SA and 13899 for the child SA. That
pairing of 13899 with notify 36 is a reading of the message text, not a Microsoft statement.
A login storm against a small pool is the classic cause: see ikev2-inner-ip-pool-exhausted. A
handler should alert the gateway's administrator (grow the pool, shorten leases) and may retry
later, when addresses are released.
""",
    13909: """
13909 is NEG_STATUS_EXTENDED_END, the extended upper bound of the range, added "to accommodate new
errors" (13898..13908 lie above 13897). ikesim reports it, by convention, for an AuthIP extended
mode negotiation (the second authentication, usually of the user) that ends with no more specific
status: it is a success. Treat it like 13897.
""",
}


def _anchor_name(entry: codes.CodeInfo) -> str:
    return f"{entry.code}-{entry.short_name.lower().replace('_', '-')}"


def _example(code: int, shown: tuple[str, ...]) -> Scenario:
    """The scenario whose timeline a code's page shows: the plainest way to reach the code.

    Among the scenarios that expect the code (else those that show it): the fewest other failures, then the
    shortest run.
    """
    candidates = [s for s in scenarios() if s.name in shown]

    def expected(scenario: Scenario) -> set[int]:
        found = [e for sas in scenario.expect.values() for e in sas.values()]
        return {int(c) for e in found for c in (e.code, e.end) if c is not None}

    def distraction(scenario: Scenario) -> int:
        return len(expected(scenario) - {code, *SUCCESS})

    expecting = [s for s in candidates if code in expected(s)] or candidates
    return min(expecting, key=lambda s: (distraction(s), len(Simulation(s).run().events), s.name))


def code_page(entry: codes.CodeInfo) -> str:
    """One code's page."""
    shown = codes_shown().get(entry.code, ())
    lines = [f"# {entry.code} {entry.name}", ""]
    lines += [
        f"- Hex `{entry.hex}`, HRESULT `{entry.hresult}`, category: {entry.category.value}.",
        f'- Message: "{entry.message}"',
    ]
    if entry.marker_note:
        lines.append(f"- {entry.marker_note}")
    lines.append("")
    if entry.code in FULLER:
        lines += [FULLER[entry.code].strip(), ""]
    lines += ["## What causes it in ikesim's model", ""]
    conditions = conditions_for(entry.code)
    for condition in conditions:
        basis = (
            "a convention: it follows the message text, not a Microsoft statement of when Windows emits it"
            if condition.convention
            else "from the message text"
        )
        lines.append(f"- `{condition.key}`: {condition.value.text} ({basis}).")
    if not conditions and entry.code == 13800:
        lines.append("- Nothing: ikesim never reports the lower range marker.")
    elif not conditions:
        lines.append(
            '- Only an injected fault of the local machine: a fault `kind = "local"` with '
            f'`code = "{entry.short_name}"` makes a peer report it (failure point IPSEC_FAILURE_ME).'
        )
    lines += ["", "## Scenarios that show it", ""]
    if shown:
        lines += [f"- [`{name}`](../../scenarios/{name}.toml)" for name in shown]
        scenario = _example(entry.code, shown)
        lines += ["", f"The timeline of `{scenario.name}` (`ikesim run {scenario.name}`):", "", "```"]
        text = [t for _, t in timeline(Simulation(scenario).run())]
        lines += text[:TIMELINE_LINES]
        if len(text) > TIMELINE_LINES:
            lines.append(f"... ({len(text) - TIMELINE_LINES} more lines)")
        lines.append("```")
    else:
        lines.append("- None in the library.")
    lines += ["", "## What a handler should do", "", ADVICE[entry.category], ""]
    return "\n".join(lines)


def codes_index() -> str:
    """The table of every code, with links to their pages."""
    shown = codes_shown()
    lines = [
        "# The codes",
        "",
        "Every Windows IKE status code, 13800..13909, with what ikesim knows of it. "
        "Generated by `make docs` from the catalog, the model and the library.",
        "",
        "| code | name | category | in the model | scenarios |",
        "|---|---|---|---|---|",
    ]
    for entry in codes.all_codes():
        model = ", ".join(c.key for c in conditions_for(entry.code)) or ("-" if entry.marker else "local fault")
        lines.append(
            f"| [{entry.code}]({_anchor_name(entry)}.md) | {entry.short_name} | {entry.category.value} | "
            f"{model} | {len(shown.get(entry.code, ()))} |"
        )
    return "\n".join(lines) + "\n"


def machine_page(name: str) -> str:
    """One machine's page: its diagram and its table."""
    table = TABLES[name]
    tags = state_tags(table)
    lines = [
        f"# {table.title}",
        "",
        f"The machine `{name}` (keying module {table.keying_module.name}). "
        "Drawn by `transitions` from the table in the code; `ikesim diagram " + name + "` prints it.",
        "",
        "```mermaid",
        diagram(name, "mermaid").rstrip(),
        "```",
        "",
        "## States",
        "",
        "| state | IKEEXT state | meaning | reports |",
        "|---|---|---|---|",
    ]
    for s in table.states:
        ikeext = s.ikeext.name if s.ikeext is not None else "(terminal)"
        reports = ", ".join(t for t in tags[s.name] if not t.startswith("=")) or "-"
        lines.append(f"| `{s.name}` | {ikeext} | {s.doc} | {reports} |")
    lines += [
        "",
        "## Rows",
        "",
        "Tried in order for each state and input; `-` as next state keeps the state.",
        "",
        "| input | from | guard | actions | next | reports |",
        "|---|---|---|---|---|---|",
    ]
    for r in table.rows:
        report = r.report.key if isinstance(r.report, Condition) else (r.report or "")
        lines.append(
            f"| `{r.trigger}` | {', '.join(r.sources)} | {r.guard or ''} | {', '.join(r.actions)} | "
            f"{r.dest or '-'} | {report}{' (SA end)' if r.ends.value == 'sa' and report else ''} |"
        )
    return "\n".join(lines) + "\n"


def machines_index() -> str:
    """The list of machines."""
    lines = ["# The machines", "", "Each protocol machine is one table in the code, run by `transitions`.", ""]
    lines += [f"- [{TABLES[n].title}]({n}.md): `{n}`" for n in machines()]
    return "\n".join(lines) + "\n"


def scenario_index() -> str:
    """Every library scenario, with what it teaches and the codes it shows."""
    shown = codes_shown()
    by_scenario: dict[str, list[int]] = {}
    for code, names in shown.items():
        for name in names:
            by_scenario.setdefault(name, []).append(code)
    lines = [
        "# Scenario library",
        "",
        f"{len(scenarios())} scenarios, one lesson each (`ikesim list`). Generated by `make docs`.",
        "",
    ]
    for s in scenarios():
        codes_text = ", ".join(
            f"[{c}](codes/{_anchor_name(codes.info(c))}.md)" for c in sorted(by_scenario.get(s.name, []))
        )
        lines += [
            f"## [{s.name}](../scenarios/{s.name}.toml)",
            "",
            prose(s.description),
            "",
            f"Codes: {codes_text}",
            "",
        ]
    return "\n".join(lines)


def false_names_page() -> str:
    """The page about code names that do not exist, for people who search for them."""
    lines = [
        "# Code names that do not exist",
        "",
        "Third-party error-code pages show names that no Windows header defines. If you searched for one of "
        "them, here is what you are probably looking at. `ikesim explain` refuses them the same way.",
        "",
        "| made-up name | no Windows header defines it; at its number stands | what you probably mean |",
        "|---|---|---|",
    ]
    for short, (claimed, hint) in codes.FALSE_NAMES.items():
        real = (
            f"[{claimed} {codes.info(claimed).short_name}](codes/{_anchor_name(codes.info(claimed))}.md)"
            if claimed
            else "-"
        )
        lines.append(f"| `ERROR_IPSEC_IKE_{short}` | {real} | {hint or '-'} |")
    return "\n".join(lines) + "\n"


def _first_line(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split()).replace("``", "`")


def _contracts() -> list[dict[str, Any]]:
    with open(DOCS.parent / "pyproject.toml", "rb") as f:
        contracts: list[dict[str, Any]] = tomllib.load(f)["tool"]["importlinter"]["contracts"]
    return contracts


def architecture_page() -> str:
    """docs/architecture.md: the data flow, each package's room and what it may import, from the code."""
    import importlib

    from sim.faults import FAULT_KINDS
    from sim.outputs.registry import RENDERERS
    from sim.protocol.profiles import PROFILES

    contracts = _contracts()
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    lines = [
        "# Architecture",
        "",
        "<!-- Generated by `make docs` from the code and pyproject.toml's import contracts: do not edit. -->",
        "",
        "Data flows one way: a **scenario** is validated, the **simulator** drives the **protocol core** on a",
        "virtual clock and records everything in the **trace**, and **renderers** turn the trace, and only",
        "the trace, into every output. A saved JSONL trace therefore renders the same files as the run",
        "that made it. The live responder is a second driver of the same core, on the real clock.",
        "",
        "```mermaid",
        "flowchart LR",
        "    scenario[scenario TOML] --> loader[sim.scenario] --> simulator[sim.simulator]",
        "    simulator <--> core[sim.protocol]",
        "    simulator --> trace[sim.trace] --> renderers[sim.outputs] --> files[fixtures]",
        "    trace -. saved JSONL, load_trace .-> renderers",
        "    live[sim.live] <--> core",
        "```",
        "",
        "## Packages, from the top down",
        "",
        "Each layer may import the layers below it, never those above; modules on one line separated by",
        "`:` may not import each other, by `|` they may. `make lint` checks it (`lint-imports`).",
        "",
        "| layer | module | its room |",
        "|---|---|---|",
    ]
    for depth, layer in enumerate(layers, start=1):
        for name in re.split(r"\s*[|:]\s*", layer):
            module = importlib.import_module(name)
            lines.append(f"| {depth} | `{name}` | {_first_line(module.__doc__)} |")
    lines += ["", "## Contracts", ""]
    for contract in contracts:
        forbidden = contract.get("forbidden_modules")
        rule = f": {', '.join(contract['source_modules'])} import none of {', '.join(forbidden)}" if forbidden else ""
        lines.append(f"- {contract['name']}{rule}.")
    lines += [
        "",
        "## Registries: where a new part goes",
        "",
        "A new output format is one module in `sim/outputs/` and one line in `sim.outputs.registry`; a new",
        "fault kind is one class in `sim/faults.py` and one member of its `Fault` union; a new profile is",
        "one function in `sim/protocol/profiles.py` and one entry in `PROFILES`.",
        "",
        "| output format | files | what |",
        "|---|---|---|",
    ]
    lines += [f"| `{n}` | `{r.files}` | {r.description} |" for n, r in RENDERERS.items()]
    lines += ["", "| fault kind | class | what it does |", "|---|---|---|"]
    lines += [f"| `{k}` | `{c.__name__}` | {_first_line(c.__doc__)} |" for k, c in FAULT_KINDS.items()]
    lines += ["", "| profile | what |", "|---|---|"]
    lines += [f"| `{n}` | {p.summary} |" for n, p in PROFILES.items()]
    return "\n".join(lines) + "\n"


def generated_files() -> dict[Path, str]:
    """Every generated file, by path, with its text."""
    out: dict[Path, str] = {
        DOCS / "architecture.md": architecture_page(),
        DOCS / "codes" / "index.md": codes_index(),
        DOCS / "machines" / "index.md": machines_index(),
        DOCS / "scenario-index.md": scenario_index(),
        DOCS / "false-names.md": false_names_page(),
    }
    for entry in codes.all_codes():
        out[DOCS / "codes" / f"{_anchor_name(entry)}.md"] = code_page(entry)
    for name in machines():
        out[DOCS / "machines" / f"{name}.md"] = machine_page(name)
    for page in DOCS.glob("*.md"):
        if page not in out:
            text = page.read_text(encoding="utf-8")
            filled = fill_blocks(text)
            if filled != text:
                out[page] = filled
    return out


def formats_table() -> str:
    """The output formats, from the renderer registry."""
    from sim.outputs.registry import RENDERERS

    lines = ["| format | files | what | `ikesim run --format` |", "|---|---|---|---|"]
    for name, r in RENDERERS.items():
        files = ", ".join(f"`{f.strip()}`" for f in r.files.split(","))
        lines.append(f"| `{name}` | {files} | {r.description} | {'yes' if r.stdout else '-'} |")
    return "\n".join(lines) + "\n"


TABLES_FOR_DOCS: dict[str, Callable[[], str]] = {"formats": formats_table}

_BLOCK = re.compile(r"(<!-- generated: (\w+) ([\w\-]+) -->\n)(.*?)(<!-- end generated -->)", re.S)


def fill_blocks(text: str) -> str:
    """Fill the generated blocks of a hand-written page."""

    def block(match: re.Match[str]) -> str:
        kind, name = match.group(2), match.group(3)
        if kind == "diagram":
            body = "```mermaid\n" + diagram(name, "mermaid") + "```\n"
        elif kind == "sequence":
            scenario = next(s for s in scenarios() if s.name == name)
            body = "```mermaid\n" + sequence_diagram(Simulation(scenario).run()) + "```\n"
        elif kind == "table":
            body = TABLES_FOR_DOCS[name]()
        else:
            raise ValueError(f"unknown generated block {kind}")
        return match.group(1) + body + match.group(5)

    return _BLOCK.sub(block, text)


def stale_files(generated: dict[Path, str] | None = None) -> list[Path]:
    """Generated folders' files that no longer correspond to anything (``generated``: already made)."""
    current = set(generated if generated is not None else generated_files())
    return [p for folder in ("codes", "machines") for p in (DOCS / folder).glob("*.md") if p not in current]


def main() -> int:
    """Write every generated file and remove stale ones."""
    generated = generated_files()
    for path, text in generated.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for path in stale_files(generated):
        path.unlink()
    print(f"docs generated in {DOCS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
