"""The key registry: coverage of upstream's keys, consistency, and docs/parameters.md."""

from __future__ import annotations

from pathlib import Path

import pytest
from midas.params import KINDS, REGISTRY, lookup, specs_for_kind
from midas.params._docgen import render_markdown
from midas.params.values import coerce_value

REPO = Path(__file__).resolve().parents[2]

# Keys named in shared/docs/upstream_facts.md §1.1-1.6 (parser, FF, NF, calibration, integration).
UPSTREAM_KEYS = """
FileStem Folder Ext Dark StartNr EndNr Padding HeadSize DataType SkipFrame darkDataset darkLoc
dataDataset dataLoc OutputFolder ResultFolder RefinementFileName InFileName GrainsFile
SeedOrientations DataDirectory GridFileName NrPixels NrPixelsY NrPixelsZ px Lsd Distance BC tx ty
tz p0 p1 p2 p3 p4 p5 p14 Wedge RhoD MaxRingRad DetParams BigDetSize SpaceGroup LatticeConstant
LatticeParameter Wavelength ImTransOpt MaskFile GapFile BadPxFile GapIntensity BadPxIntensity
OmegaRange BoxSize OmegaStart OmegaEnd OmegaStep RingsToExclude RingsToReject RingThresh
MaxRingNumber RingNumbers RingRadii tolTilts tolBC tolLsd tolP tolP0 tolP14 tolShifts tolRotation
tolLsdPanel tolP2Panel tolWavelength tolParallax Width EtaBinSize RBinDivisions MultFactor
MinIndicesForFit nIterations DoubletSeparation NormalizeRingWeights OutlierIterations
RemoveOutliersBetweenIters TrimmedMeanFraction WeightByRadius WeightByFitSNR L2Objective
FitWavelength FitParallax Parallax PerPanelLsd PerPanelDistortion GradientCorrection PeakFitMode
SubPixelLevel SubPixelCardinalWidth FixPanelID TakeGrainMax MargABC MargABG OmeBinSize WeightMask
WeightFitRMSE ExcludePoleAngle MinEta Hbeam Rsample BeamSize BeamThickness DoLoGFilter
GaussFiltRadius GaussWidth LoGMaskRadius MedFiltRadius BlanketSubtraction SkipImageBinning
StepSizeOrient StepsizeOrient NrOrientations nDistances NrFilesPerDistance OrientTol Twins
MarginOme MarginEta MinConfidence MinFracAccept nScans PhaseNr NumPhases MinNrSpots GlobalPosition
GridSize EdgeLength GridPoints SimulationBatches OutFileName IntensitiesFile WriteSpots WriteImage
PeakIntensity MaxOutputIntensity RingsToUse EResolution NPanelsY NPanelsZ PanelSizeY PanelSizeZ
PanelGapsY PanelGapsZ PanelShiftsFile RBinSize RMin RMax DistortionOrder Vsample
OverAllRingToIndex Completeness UseFriedelPairs StepSizePos MinOmeSpotIDsToIndex
MaxOmeSpotIDsToIndex MarginRadial MarginRadius tInt tGap UpperBoundThreshold NrFilesPerSweep
DiscModel DiscArea OmegaSigma SimNoiseSigma SkipFrame OverlapLength UseMaximaPositions
UsePixelOverlap doPeakFit DoPeakFit LocalMaximaOnly MinNrPx MaxNrPx MaxNPeaks DoFullImage
MaxNFrames DoFit MargStrain FitAllAtOnce WFImages GridMask GlobalPositionFirstLayer LayerThickness
extOrig extReduced WriteFinImage SaveNSolutions MicFileBinary MicFileText OnlySpotsInfo LsdTol
LsdRelativeTol BCTol TiltsTol NumIterations OutputDirectory OrigFileName ReducedFileName
RawStartNr MinMisoNSaves PrecomputedSpotsInfo tolTiltX ConvergenceThresholdPPM DSpacing
ResidualCorrectionMap EtaMin EtaMax QBinSize QMin QMax OmegaSumFrames DistortionFile
SolidAngleCorrection PolarizationCorrection PolarizationFraction Polariz Normalize SumImages
SaveIndividualFrames PeakLocation MultiplePeaks AutoDetectPeaks SNIPIterations DoSmoothing
FitROIPadding FitROIAuto U V W X Y Z SHpL PixelSize DetDist SGNr MarginOmega MinMatchesToAcceptFrac
SpotsFileName IDsFileName LsdFit YBCFit ZBCFit txFit tyFit tzFit StepsizePos CellStruct
""".split()


@pytest.mark.parametrize("key", sorted(set(UPSTREAM_KEYS)))
def test_upstream_key_is_registered(key: str) -> None:
    assert lookup(key) is not None, key


def test_upstream_defaults() -> None:
    expected = {"Padding": 6, "DataType": 1, "RBinDivisions": 4, "tolShifts": 1.0,
                "MinIndicesForFit": 1, "nIterations": 1, "OutlierIterations": 1,
                "TrimmedMeanFraction": 1.0, "tolLsdPanel": 100.0, "tolP2Panel": 1e-4,
                "tolWavelength": 1e-3, "RBinSize": 0.25, "RMin": 10.0,
                "darkDataset": "exchange/dark", "dataDataset": "exchange/data", "MargABC": 0.3,
                "MargABG": 0.3, "NrFilesPerDistance": 1, "NumPhases": 1, "MinFracAccept": 0.5,
                "MinNrSpots": 1, "SpaceGroup": 225, "WriteSpots": 1, "WriteImage": 1,
                "PeakIntensity": 2000.0, "MaxOutputIntensity": 65000.0, "SubPixelLevel": 1,
                "SubPixelCardinalWidth": 5.0, "Width": 1500.0}
    for key, value in expected.items():
        d = REGISTRY[key].default
        assert d == value and type(d) is type(value), key


def test_specs_are_consistent() -> None:
    names: set[str] = set()
    for name, spec in REGISTRY.items():
        assert name == spec.name and spec.doc and spec.kinds and spec.kinds <= set(KINDS)
        assert set(spec.types) <= set("fis")
        assert 0 <= spec.min_values <= spec.max_values
        assert not spec.fields or len(spec.fields) == len(spec.types), name
        for n in (spec.name, *spec.aliases):
            assert n not in names, n
            names.add(n)
            assert lookup(n) is spec
        if spec.default is not None and not callable(spec.default):
            assert coerce_value(spec, spec.default) == spec.default, name
            assert spec.check_value(spec.default) is None, name
        assert spec.expects()
    assert lookup("NoSuchKey") is None


def test_specs_for_kind() -> None:
    ff = {s.name for s in specs_for_kind("ff")}
    nf = {s.name for s in specs_for_kind("nf")}
    assert {"Lsd", "RingThresh", "OmegaRange", "BoxSize"} <= ff
    assert {"nDistances", "GridSize", "Lsd"} <= nf and "RingThresh" not in nf
    assert "RMax" in {s.name for s in specs_for_kind("integration")}
    with pytest.raises(ValueError, match="kind must be one of"):
        specs_for_kind("pf")


def test_parameters_doc_is_up_to_date() -> None:
    doc = REPO / "docs" / "parameters.md"
    assert doc.read_text(encoding="utf-8") == render_markdown(), (
        "docs/parameters.md is stale: run PYTHONPATH=python python3 -m midas.params._docgen "
        "> docs/parameters.md"
    )
