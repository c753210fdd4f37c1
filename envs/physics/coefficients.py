"""Reference curve coefficients, copied from the sources PHYSICS.md cites.

Biquadratic order everywhere: ``c0 + c1·x + c2·x² + c3·y + c4·y² + c5·x·y``.
Polynomials are in increasing powers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChillerCurves:
    """DOE-2 Chiller:Electric:EIR curve set (EnergyPlus Engineering Reference, chillers.tex).

    ``capft``/``eirft`` are biquadratics in leaving chilled water (x, °C) and entering
    condenser water (y, °C); their inputs are clamped to the fit ranges
    ``chws_range_c``/``ecw_range_c``: outside them the model gives no further credit.
    """

    source: str
    cop_ref: float
    capft: tuple[float, float, float, float, float, float]
    eirft: tuple[float, float, float, float, float, float]
    eirfplr: tuple[float, float, float]
    chws_range_c: tuple[float, float]
    ecw_range_c: tuple[float, float]
    plr_min: float
    plr_max: float
    min_unloading_ratio: float


CHILLER_MODELS: dict[str, ChillerCurves] = {
    "doe2_centrifugal_5p50cop": ChillerCurves(
        source="EnergyPlus datasets/Chillers.idf @073d9a9, 'DOE-2 Centrifugal/5.50COP' "
        "(= DOE-2.1E HERM-CENT curves)",
        cop_ref=5.5,
        capft=(0.257896, 0.0389016, -0.00021708, 0.0468684, -0.00094284, -0.00034344),
        eirft=(0.933884, -0.058212, 0.00450036, 0.00243, 0.000486, -0.001215),
        eirfplr=(0.222903, 0.313387, 0.46371),
        chws_range_c=(5.0, 10.0),
        ecw_range_c=(24.0, 35.0),
        plr_min=0.1,
        plr_max=1.0,
        min_unloading_ratio=0.2,
    ),
    "carrier_19fa_5651kw": ChillerCurves(
        source="EnergyPlus datasets/Chillers.idf @073d9a9, 'Carrier 19FA 5651kW/5.50COP/Vanes'",
        cop_ref=5.5,
        capft=(1.299676, 0.01790645, -0.0025223, 0.002536423, -0.001128041, 0.003003265),
        eirft=(0.7853207, -0.01652255, -0.0003294526, 0.004569179, 0.0001964013, 0.0001761497),
        eirfplr=(0.1629327, 0.5709336, 0.2659304),
        chws_range_c=(4.44, 8.89),
        ecw_range_c=(15.56, 29.44),
        plr_min=0.19,
        plr_max=1.02,
        min_unloading_ratio=0.19,
    ),
}

FAN_CURVES: dict[str, tuple[float, float, float, float, float]] = {
    # Fan:VariableVolume part-load factor, quartic in flow fraction (EnergyPlus Fans.cc).
    "doe2_vsd": (0.0015302446, 0.0052080574, 1.1086242, -0.11635563, 0.0),
    # EC plug fan of testfiles/1ZoneDataCenterCRAC_wApproachTemp.idf.
    "ec_plug": (0.06990146, 1.39500612, -3.35487336, 2.89232315, 0.0),
}

PUMP_CURVE_VSD: tuple[float, float, float, float] = (0.0, 0.0205, 0.4101, 0.5753)
"""Variable-speed pump with differential-pressure reset, cubic in flow fraction
(ASHRAE 90.1 Appendix G part-load curve) [U: not verified against the standard's text]."""

PUMP_CURVE_CONSTANT: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
"""Constant-speed pump (throttled or bypassed): full design power whenever it runs."""

TOWER_YORKCALC: tuple[float, ...] = (
    -0.359741205, -0.055053608, 0.0023850432, 0.173926877, -0.0248473764,
    0.00048430224, -0.005589849456, 0.0005770079712, -1.342427256e-05,
    2.84765801111111, -0.121765149, 0.0014599242, 1.680428651, -0.0166920786,
    -0.0007190532, -0.025485194448, 4.87491696e-05, 2.719234152e-05,
    -0.06537662555556, -0.002278167, 0.0002500254, -0.0910565458, 0.00318176316,
    3.8621772e-05, -0.0034285382352, 8.56589904e-06, -1.516821552e-06,
)
"""YorkCalc tower approach (EnergyPlus Engineering Reference, cooling towers): term
``n = 9k + 3j + i`` multiplies ``Twb^i · Tr^j · LG^k``; LG = FR_water / FR_air."""

TOWER_YORKCALC_LIMITS = {
    "twb_c": (-34.4, 26.7),
    "range_k": (1.1, 22.2),
    "approach_k": (1.1, 40.0),
    "fr_water": (0.75, 1.25),
    "lg_max": 8.0,
}
"""Validity limits of YorkCalc; inputs are clamped to them."""

TOWER_FAN_POWER_PER_KW_REJECTED = 0.0105
"""EnergyPlus autosizing of variable-speed tower fan power, W per W of design heat
rejection [U: from memory of CoolingTower:VariableSpeed autosizing]."""
