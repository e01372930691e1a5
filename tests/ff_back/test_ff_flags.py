"""``midas ff`` flags on a small simulated scan: -peakSearchOnly, several layers, -convertFiles.

The scan: the first 6 grains of the built-in example (512² detector, 360 frames of 1°), simulated
once per module by :func:`midas.forward.simulate.simulate_ff`. Each test runs the CLI and checks
the grains against the simulation input.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    from midas.ff.demo import example_folder
    from midas.forward.simulate import simulate_ff
    from midas.params import read_params

    work = tmp_path_factory.mktemp("ff_flags")
    src = example_folder()
    text = (src / "Parameters.txt").read_text()
    assert "OmegaStep -0.5" in text
    (work / "Parameters.txt").write_text(text.replace("OmegaStep -0.5", "OmegaStep -1"))
    lines = (src / "GrainsSim.csv").read_text().splitlines()
    head = [ln for ln in lines if ln.startswith("%")]
    rows = [ln for ln in lines if ln.strip() and not ln.startswith("%")][:6]
    head[0] = "%NumGrains 6"
    (work / "GrainsSim.csv").write_text("\n".join(head + rows) + "\n")
    sim = simulate_ff(read_params(work / "Parameters.txt"), result_folder=work, n_threads=1)
    return work, Path(sim.zip_path)


def _ff(*args: str) -> None:
    from midas.cli.main import main

    assert main(["ff", *args, "-nCPUs", "1"]) == 0


def _check_grains(work: Path, grains_csv: Path) -> None:
    from midas.ff.score import score_grains
    from midas.io.grains_csv import read_grains_csv

    s = score_grains(read_grains_csv(work / "GrainsSim.csv"), read_grains_csv(grains_csv), space_group=225,
                     lattice=(4.08, 4.08, 4.08, 90, 90, 90))
    assert (s["matched"], s["spurious"]) == (6, 0)
    assert s["position_error_um"]["max"] < 10.0


def test_peak_search_only_then_reuse(scan):
    work, data = scan
    out = work / "pso"
    _ff("-paramFN", str(work / "Parameters.txt"), "-dataFN", str(data), "-resultFolder", str(out),
        "-peakSearchOnly", "1")
    layer = out / "LayerNr_1"
    assert (layer / "InputAll.csv").is_file() and (layer / "SpotsToIndex.csv").is_file()
    assert (layer / "pipeline.h5").is_file() and not (layer / "Grains.csv").exists()
    n_spots = len((layer / "InputAll.csv").read_text().splitlines()) - 1
    assert n_spots > 6 * 50
    # -doPeakSearch 0: the back half from the stored front half, no frames read
    _ff("-paramFN", str(work / "Parameters.txt"), "-dataFN", str(work / "absent.zip"), "-resultFolder", str(out),
        "-doPeakSearch", "0")
    _check_grains(work, layer / "Grains.csv")


def test_several_layers_from_file_stem(scan, capsys):
    work, data = scan
    raw = work / "raw"
    raw.mkdir()
    for nr in (1, 2):
        shutil.copyfile(data, raw / f"demo_{nr:06d}.analysis.MIDAS.zip")
    params = work / "Parameters_layers.txt"
    params.write_text((work / "Parameters.txt").read_text() + "\nFileStem demo\nExt .analysis.MIDAS.zip\n"
                      f"StartFileNrFirstLayer 1\nNrFilesPerSweep 1\nRawFolder {raw}\n")
    out = work / "layers"
    _ff("-paramFN", str(params), "-resultFolder", str(out), "-startLayerNr", "1", "-endLayerNr", "2")
    g1, g2 = (out / f"LayerNr_{n}" / "Grains.csv" for n in (1, 2))
    _check_grains(work, g1)
    # the same frames in both layers: the same grains
    assert g1.read_bytes() == g2.read_bytes()
    # a missing third layer file: exit status 2 and the file named on stderr
    from midas.cli.main import main

    capsys.readouterr()
    assert main(["ff", "-paramFN", str(params), "-resultFolder", str(out), "-startLayerNr", "3", "-endLayerNr", "3"]) == 2
    assert re.search(r"layer 3: data file .*demo_000003\.analysis\.MIDAS\.zip not found", capsys.readouterr().err)


def test_convert_files_from_hdf5(scan):
    import h5py
    from midas.io.midas_zip import open_midas_zip

    work, data = scan
    with open_midas_zip(data) as z:
        frames = np.stack([z[k] for k in range(len(z))])
    raw = work / "frames.h5"
    with h5py.File(raw, "w") as f:
        f["exchange/data"] = frames
    params = work / "Parameters_h5.txt"
    params.write_text((work / "Parameters.txt").read_text() + "\ndataLoc exchange/data\n")
    out = work / "converted"
    _ff("-paramFN", str(params), "-dataFN", str(raw), "-resultFolder", str(out), "-convertFiles", "1")
    zipped = out / "frames.h5.analysis.MIDAS.zip"
    with open_midas_zip(zipped) as z:
        assert len(z) == len(frames)
        np.testing.assert_array_equal(z[len(z) // 2], frames[len(frames) // 2])
    _check_grains(work, out / "LayerNr_1" / "Grains.csv")
