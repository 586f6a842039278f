"""An installed wheel carries the catalog and the scenario library, and finds them without the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if built.returncode != 0:
        pytest.fail(f"building the wheel failed: {built.stderr[-2000:]}")
    return next(out.glob("ikesim-*.whl"))


def test_the_wheel_holds_the_catalog_the_library_and_the_type_marker(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "sim/data/ike_codes.csv" in names
    assert "sim/py.typed" in names
    library = [n for n in names if n.startswith("sim/library/") and n.endswith(".toml")]
    assert len(library) == len(list((ROOT / "scenarios").glob("*.toml")))


def test_ikesim_list_works_from_the_wheel_without_the_source_tree(wheel, tmp_path):
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    result = subprocess.run([sys.executable, "-m", "sim.cli", "list"], capture_output=True, text=True,
                            cwd=tmp_path, env=env, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "mm-peer-stops-responding" in result.stdout
    run = subprocess.run([sys.executable, "-c", "import sim; print(sim.__file__)"], capture_output=True, text=True,
                         cwd=tmp_path, env=env, check=False)  # fmt: skip
    assert run.stdout.startswith(str(tmp_path / "site"))


def test_every_error_ikesim_raises_on_purpose_shares_one_base():
    import sim
    from sim.codes import UnknownCodeError
    from sim.protocol.table import IllegalInput
    from sim.scenario import ScenarioError
    from sim.trace import TraceError
    from sim.wire.reader import WireError

    for error in (UnknownCodeError, WireError, IllegalInput, ScenarioError, TraceError):
        assert issubclass(error, sim.IkesimError), error
    assert issubclass(ScenarioError, ValueError) and issubclass(TraceError, ValueError)  # as before, for callers
