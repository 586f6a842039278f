"""Fixture files for a scenario: the trace, a timeline, a sequence diagram, Windows events, a pcap.

``write_fixtures`` writes one folder per scenario; the same scenario and seed give the same bytes.
"""

from __future__ import annotations

from pathlib import Path

from sim.outputs.mermaid import sequence_diagram
from sim.outputs.timeline import timeline
from sim.outputs.windows import events_xml, net_events_json, net_events_xml, peer_infos
from sim.scenario import Scenario

FORMATS = ("jsonl", "text", "mermaid", "evtx", "wfp", "pcap")


def write_fixtures(
    scenario: Scenario, folder: Path, formats: tuple[str, ...] = FORMATS, seed: int | None = None
) -> list[Path]:
    """Run a scenario and write the chosen formats into ``folder``; return the files written."""
    from sim.simulator.engine import Simulation

    simulation = Simulation(scenario, seed)
    trace = simulation.run()
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def write(name: str, text: str) -> None:
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)

    if "jsonl" in formats:
        write("trace.jsonl", trace.to_jsonl())
    if "text" in formats:
        write("timeline.txt", "".join(text + "\n" for _, text in timeline(trace, scenario)))
    if "mermaid" in formats:
        write("sequence.mmd", sequence_diagram(trace, list(simulation.peers)))
    windows_peers = [name for name, info in peer_infos(trace).items() if info.windows]
    for peer in windows_peers:
        if "evtx" in formats:
            write(f"security-events-{peer}.xml", events_xml(trace, peer))
        if "wfp" in formats:
            write(f"wfp-netevents-{peer}.xml", net_events_xml(trace, peer))
            write(f"wfp-netevents-{peer}.json", net_events_json(trace, peer))
    if "pcap" in formats:
        from sim.outputs.pcap import write_pcap

        path = folder / "exchange.pcap"
        write_pcap(path, trace, simulation)
        written.append(path)
    return written
