"""IT load profiles and CSV traces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from coolpilot.envs.load import LoadProfile, LoadTrace, LoadTraceError, synthetic_utilization


def test_profile_shape_level_weekend_and_trend() -> None:
    prof = LoadProfile(utilization_mean=0.5, diurnal_amplitude=0.2, peak_hour=15, weekend_drop=0.2, noise_std=0.0)
    u = synthetic_utilization(prof, 0.0, 3600.0, 24 * 7, np.random.default_rng(0))
    assert u.shape == (168,)
    assert abs(u[:120].mean() - 0.5) < 1e-9
    assert np.argmax(u[:24]) == 15
    assert u[120:].mean() < u[:120].mean()
    grow = LoadProfile(utilization_mean=0.4, diurnal_amplitude=0.0, weekend_drop=0.0, noise_std=0.0, trend_per_year=0.5)
    g = synthetic_utilization(grow, 0.0, 86400.0, 365, np.random.default_rng(0))
    assert g[-1] == pytest.approx(0.4 * (1 + 0.5 * 364 / 365))


def test_noise_is_seeded_and_bounded() -> None:
    prof = LoadProfile(noise_std=0.3, utilization_mean=0.9)
    a = synthetic_utilization(prof, 0.0, 300.0, 5000, np.random.default_rng(1))
    b = synthetic_utilization(prof, 0.0, 300.0, 5000, np.random.default_rng(1))
    assert np.array_equal(a, b)
    assert a.min() >= 0.0 and a.max() <= 1.0


def test_trace_interpolates_and_repeats(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("hour,a_frac,b_kw\n0,0.2,100\n12,0.6,300\n24,0.2,100\n")
    trace = LoadTrace(path)
    u = trace.utilization("a_frac", 1000.0, 0.0, 3600.0, 48)
    assert u[6] == pytest.approx(0.4) and u[12] == pytest.approx(0.6) and u[36] == pytest.approx(0.6)
    assert trace.utilization("b_kw", 500.0, 0.0, 3600.0, 13)[12] == pytest.approx(0.6)


def test_timestamp_traces(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("timestamp,x_frac\n2024-01-01T00:00,0.1\n2024-01-02T00:00,0.3\n")
    assert LoadTrace(path).utilization("x_frac", 1.0, 43200.0, 1.0, 1)[0] == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty file"),
        ("time,a_frac\n0,0.1\n1,0.2\n", "first column must be 'hour' or 'timestamp'"),
        ("hour,a\n0,0.1\n1,0.2\n", "must end in '_frac'"),
        ("hour,a_frac\n0,0.1\n", "at least two data rows"),
        ("hour,a_frac\n0,0.1\n1,abc\n", "line 3: column 'a_frac' = 'abc' is not a number"),
        ("hour,a_frac\n0,0.1\n1,1.7\n", r"line 3: column 'a_frac' = 1.7 1 is outside the allowed range 0..1"),
        ("hour,a_kw\n0,10\n1,-3\n", "line 3: column 'a_kw' = -3 kW is outside"),
        ("hour,a_frac\n0,0.1\n0,0.2\n", "line 3: time does not increase"),
        ("hour,a_frac\n0,0.1\n1\n", "line 3: 1 fields, the header has 2"),
        ("timestamp,a_frac\nyesterday,0.1\n2024-01-01,0.2\n", "not ISO 8601"),
    ],
)
def test_bad_traces_are_refused_with_line_and_column(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(LoadTraceError, match=match) as err:
        LoadTrace(path)
    assert "bad.csv" in str(err.value)


def test_missing_trace_and_column(tmp_path: Path) -> None:
    with pytest.raises(LoadTraceError, match="not found"):
        LoadTrace(tmp_path / "none.csv")
    path = tmp_path / "t.csv"
    path.write_text("hour,a_frac\n0,0.1\n1,0.2\n")
    with pytest.raises(LoadTraceError, match="column 'b_frac' not found"):
        LoadTrace(path).utilization("b_frac", 1.0, 0.0, 300.0, 3)
