"""The FF workflow: checkpoints, -provideInputAll, -grainsFile, resume after a kill, CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from _ffdata import AU_PARAMS, scene
from midas.errors import MidasError, ParamError
from midas.ff.checkpoint import Checkpoint
from midas.ff.pipeline import FFOptions, run_ff
from midas.ff.score import score_grains
from midas.io.grains_csv import read_grains_csv

REF = (4.08, 4.08, 4.08, 90.0, 90.0, 90.0)
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class _Inner:
    a: np.ndarray
    t: tuple = ()


@dataclass(frozen=True)
class _Outer:
    inner: _Inner
    same: _Inner
    m: dict = field(default_factory=dict)
    arrays: list = field(default_factory=list)
    s: str = ""
    none: object = None


def test_checkpoint_round_trip(tmp_path):
    inner = _Inner(np.arange(6.0).reshape(2, 3), ((1, 2.5), (3, 4.0)))
    obj = _Outer(inner, inner, {1: 2.0, 3: (4, 5)}, [np.arange(3), np.ones((2, 2))], "x", None)
    ck = Checkpoint(tmp_path / "p.h5", "params A")
    ck.save("one", obj)
    ck.save("two", inner)
    back = Checkpoint(tmp_path / "p.h5", "params A")
    o = back.get("one")
    np.testing.assert_array_equal(o.inner.a, inner.a)
    assert o.inner is o.same and back.get("two") is o.inner  # shared objects stored once
    assert o.inner.t == ((1, 2.5), (3, 4.0)) and o.m == {1: 2.0, 3: (4, 5)} and o.s == "x" and o.none is None
    np.testing.assert_array_equal(o.arrays[1], np.ones((2, 2)))
    with pytest.raises(ParamError, match="different parameters"):
        Checkpoint(tmp_path / "p.h5", "params B")


def _write_input_all(folder: Path, spots) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    cols = np.column_stack([spots.y_um, spots.z_um, spots.omega_deg, spots.grain_radius_um, spots.spot_id,
                            spots.ring_nr, spots.eta_deg, spots.tth_deg])
    np.savetxt(folder / "InputAll.csv", cols, fmt="%12.5f", header="YLab ZLab Omega GrainRadius SpotID RingNumber "
               "Eta Ttheta", comments="%")


def _setup(tmp_path: Path, n: int = 20):
    s = scene(n)
    (tmp_path / "Parameters.txt").write_text(AU_PARAMS)
    _write_input_all(tmp_path / "out" / "LayerNr_1", s.spots)
    return s, FFOptions(param_file=tmp_path / "Parameters.txt", result_folder=tmp_path / "out",
                        provide_input_all=True, n_cpus=1)


def test_provide_input_all_runs_the_back_half(tmp_path):
    s, opts = _setup(tmp_path)
    layer = run_ff(opts)[0]
    folder = tmp_path / "out" / "LayerNr_1"
    for name in ("Grains.csv", "SpotMatrix.csv", "GrainIDsKey.csv", "grain_map.png", "grain_histograms.png",
                 "pipeline.h5", "midas_log/ff_MIDAS.log"):
        assert (folder / name).is_file(), name
    g = read_grains_csv(folder / "Grains.csv")
    sc = score_grains(s.grains, g, space_group=225, lattice=REF)
    assert (sc["matched"], sc["spurious"]) == (20, 0)
    assert sc["position_error_um"]["max"] < 0.05  # InputAll's 5 decimals
    assert set(layer.timings_s) == {"spots", "index", "grains", "output"}
    import h5py

    with h5py.File(next(folder.glob("*_consolidated.h5")), "r") as f:
        names = [str(x) for x in f["grains/summary"].attrs["column_names"]]
        assert names[19:24] == ["DiffPos", "DiffOme", "DiffAngle", "GrainRadius", "Confidence"]
        assert f["grains/summary"].shape == (20, 47)
        gid = int(g.grain_id[0])
        np.testing.assert_allclose(f[f"grains/grain_{gid}/confidence"][()], g.confidence[0], atol=1e-6)


def test_grains_file_refines_given_grains(tmp_path):
    s, opts = _setup(tmp_path)
    from dataclasses import replace

    from midas.io.grains_csv import write_grains_csv

    start = replace(s.grains, pos_um=s.grains.pos_um + 20.0, grain_id=np.arange(101, 121))
    write_grains_csv(tmp_path / "start.csv", start)
    run_ff(replace(opts, grains_file=tmp_path / "start.csv"))
    g = read_grains_csv(tmp_path / "out" / "LayerNr_1" / "Grains.csv")
    assert sorted(g.grain_id.tolist()) == list(range(101, 121))
    assert score_grains(s.grains, g, space_group=225, lattice=REF)["position_error_um"]["max"] < 0.05


def test_resume_after_an_interruption_writes_identical_grains(tmp_path, monkeypatch):
    s, opts = _setup(tmp_path)
    clean = tmp_path / "clean"
    _write_input_all(clean / "LayerNr_1", s.spots)
    from dataclasses import replace

    run_ff(replace(opts, result_folder=clean))
    expected = (clean / "LayerNr_1" / "Grains.csv").read_bytes()

    import midas.ff.grains as grains_mod

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(grains_mod, "process_grains", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_ff(opts)
    monkeypatch.undo()
    ck = Checkpoint(tmp_path / "out" / "LayerNr_1" / "pipeline.h5", AU_PARAMS)
    assert "index" in ck and "grains" not in ck
    resumed = run_ff(replace(opts, provide_input_all=False, resume=tmp_path / "out" / "LayerNr_1" / "pipeline.h5"))
    assert set(resumed[0].timings_s) == {"grains", "output"}  # indexing was not redone
    assert (tmp_path / "out" / "LayerNr_1" / "Grains.csv").read_bytes() == expected


@pytest.mark.slow
def test_killed_process_resumes_to_identical_grains(tmp_path):
    """SIGKILL `midas ff` as soon as its checkpoint holds the indexing, then resume."""
    s, _ = _setup(tmp_path, 40)
    clean = tmp_path / "clean"
    _write_input_all(clean / "LayerNr_1", s.spots)
    import midas

    # the folder holding the midas package that this test imported (source tree or site-packages)
    env = {**os.environ, "PYTHONPATH": str(Path(midas.__file__).resolve().parents[1])}
    cmd = [sys.executable, "-m", "midas.cli.main", "ff", "-paramFN", str(tmp_path / "Parameters.txt"),
           "-nCPUs", "1", "-provideInputAll", "1"]
    subprocess.run(cmd + ["-resultFolder", str(clean)], env=env, check=True, capture_output=True)
    expected = (clean / "LayerNr_1" / "Grains.csv").read_bytes()
    ck_path = tmp_path / "out" / "LayerNr_1" / "pipeline.h5"
    proc = subprocess.Popen(cmd + ["-resultFolder", str(tmp_path / "out")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if ck_path.exists():
            try:
                if "index" in Checkpoint(ck_path, AU_PARAMS):
                    break
            except (OSError, MidasError):
                time.sleep(0.01)  # the file is being replaced
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    out = subprocess.run(cmd[:-2] + ["-resultFolder", str(tmp_path / "out"), "-resume", str(ck_path)], env=env,
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "out" / "LayerNr_1" / "Grains.csv").read_bytes() == expected


def test_cli_flags(tmp_path, capsys):
    from midas.cli.main import main

    _setup(tmp_path)
    rc = main(["ff", "-paramFN", str(tmp_path / "Parameters.txt"), "-resultFolder", str(tmp_path / "out"),
               "-provideInputAll", "1", "-nCPUs", "1", "-machineName", "polaris", "-nNodes", "4",
               "-startLayerNr", "1", "-endLayerNr", "1", "-convertFiles", "0", "-doPeakSearch", "0"])
    assert rc == 0
    assert "20 grains" in capsys.readouterr().out
    assert main(["ff", "-paramFN", str(tmp_path / "missing.txt")]) == 2
    with pytest.raises(SystemExit):
        main(["ff", "-paramFN", "x", "-restartFrom", "nonsense"])


def test_ff_midas_console_entry(tmp_path):
    from midas.cli.ff import ff_midas_main

    _setup(tmp_path)
    assert ff_midas_main(["-paramFN", str(tmp_path / "Parameters.txt"), "-resultFolder", str(tmp_path / "out"),
                          "-provideInputAll", "1", "-nCPUs", "1"]) == 0
