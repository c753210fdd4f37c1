"""Electrical overheads: UPS and distribution losses."""

from __future__ import annotations

import numpy as np

from coolpilot.envs.physics._jit import jit


@jit
def distribution_loss_kw(it_power_kw: np.ndarray, rated_kw: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    """UPS, PDU and transformer losses (kW): ``rated·(c0 + c1·x + c2·x²)``, ``x = P_IT/rated``.

    The no-load, proportional and square-law loss model of Rasmussen, "Electrical
    efficiency modeling of data centers" (APC/Schneider White Paper 113) [U: coefficients
    per preset are typical values, not from one datasheet]. These losses occur in the
    electrical rooms, which the model does not place in the data hall's cooling load.
    """
    x = it_power_kw / rated_kw
    return rated_kw * (coefficients[:, 0] + x * (coefficients[:, 1] + x * coefficients[:, 2]))
