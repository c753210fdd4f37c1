"""GPU-cluster load shapes (training, inference), their exact step means, seeding and the trace generator."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from coolpilot.envs.config import PRESETS_DIR, FacilityConfig, FacilityConfigError, facility_from_mapping
from coolpilot.envs.env import DataCenterEnv
from coolpilot.envs.load import (
    LoadProfile,
    LoadTrace,
    TrainingLoad,
    draw_noise,
    load_table,
    synthetic_utilization,
    synthetic_utilization_batch,
    write_trace,
)
from coolpilot.envs.vector import DataCenterVectorEnv

ROOT = Path(__file__).resolve().parents[2]
DAY_S = 86_400.0

CHECKPOINTS_ONLY = LoadProfile(shape="training", noise_std=0.0, training=TrainingLoad(
    job_hours=2000.0, gap_hours=0.0, failure_mtbf_h=None, job_utilization_min=0.9, job_utilization_max=0.9,
    checkpoint_interval_min=38.0, checkpoint_min=2.0, checkpoint_utilization=0.1))
"""One endless job at 0.9 with a 2 min checkpoint at 0.1 every 40 min: nothing else moves."""


def utilization(profile: LoadProfile, days: float, dt_s: float, seed: int, start_day: float = 0.0) -> np.ndarray:
    """Row k is the mean over the step ending at start + k·dt; rows 1.. cover [start, start + days)."""
    n = round(days * DAY_S / dt_s) + 1
    return synthetic_utilization(profile, start_day * DAY_S, dt_s, n, np.random.default_rng(seed))


def daily_means(profile: LoadProfile, days: int, dt_s: float, seed: int) -> np.ndarray:
    return utilization(profile, days, dt_s, seed)[1:].reshape(days, -1).mean(axis=1)


def test_enterprise_profiles_are_unchanged() -> None:
    """The default shape reproduces, to the last digits, what the kernel gave before the AI shapes (a06b079)."""
    profiles = [[LoadProfile(),
                 LoadProfile(utilization_mean=0.3, diurnal_amplitude=0.3, peak_hour=9.5, weekend_drop=0.2,
                             trend_per_year=0.6, noise_std=0.05, noise_tau_h=3.0),
                 LoadProfile(noise_std=0.0)],
                [LoadProfile(utilization_mean=0.9, noise_std=0.3), LoadProfile(peak_hour=23.0)]]
    table = load_table(profiles, 3)
    shocks, x0 = np.empty((2, 3, 3000)), np.empty((2, 3))
    for i, seed in enumerate((11, 12)):
        draw_noise(table, i, np.random.default_rng(seed), shocks[i], x0[i])
    u = synthetic_utilization_batch(np.array([3 * DAY_S + 1234.0, 0.0]), 300.0, 3000, *table[1:], shocks, x0)
    before = [[0.5371403237579031, 0.16724595445850804, 0.5631536916358868],
              [0.5613854271190043, 0.25905853240746457, 0.5545093435567608],
              [0.5833961261261633, 0.28480967896729154, 0.5986299536219318],
              [0.6168984974563697, 0.33960700160008306, 0.5847643594379126]]
    np.testing.assert_allclose(u[0, [0, 17, 999, 2999], :], before, rtol=0.0, atol=1e-12)
    np.testing.assert_allclose(u[1, [5, 1500], :2], [[1.0, 0.6523400463846073], [0.7852810708039749,
                                                                                0.5592491988214505]],
                               rtol=0.0, atol=1e-12)
    assert LoadProfile().shape == "enterprise" and LoadProfile().training is None


def test_training_mean_level_matches_its_renewal_estimate() -> None:
    prof = LoadProfile(shape="training", noise_std=0.0)
    tr = prof.training_load
    u = utilization(prof, 730, 900.0, seed=3)
    assert abs(u.mean() - tr.expected_utilization) < 0.01, (u.mean(), tr.expected_utilization)
    assert 0.80 < tr.expected_utilization < 0.86  # checkpoints, restarts and gaps below the 0.85–0.97 jobs
    assert u.max() <= tr.job_utilization_max + 1e-12 and u.min() == 0.0  # idle gaps reach idle_utilization
    # Four job streams of a quarter of the GPUs each average out: fewer steps at idle, the same mean.
    four = LoadProfile(shape="training", noise_std=0.0, training=TrainingLoad(jobs=4))
    u4 = utilization(four, 730, 900.0, seed=3)
    assert abs(u4.mean() - tr.expected_utilization) < 0.01
    assert (u4 < 0.2).mean() < 0.5 * (u < 0.2).mean()


def test_checkpoint_dips_have_their_period_and_depth_at_a_fine_step() -> None:
    u = utilization(CHECKPOINTS_ONLY, 2, 60.0, seed=1)[1:]
    assert u.max() == pytest.approx(0.9, abs=1e-12)
    assert u.min() == pytest.approx(0.1, abs=1e-12)  # a 2-min stall covers at least one whole 1-min step
    below = u < 0.9 - 1e-9
    onsets = np.flatnonzero(below[1:] & ~below[:-1]) + 1
    assert set(np.diff(onsets).tolist()) == {40}  # minutes between checkpoint starts: 38 of compute + 2 of stall
    assert len(onsets) >= 2 * 24 * 60 // 40 - 1
    assert set(np.diff(np.flatnonzero(u < 0.1 + 1e-9)).tolist()) <= {1, 39, 40}


@pytest.mark.parametrize("dt_s", [60.0, 300.0, 420.0, 900.0, 3600.0])
def test_a_dip_shorter_than_a_step_lowers_its_mean_in_proportion(dt_s: float) -> None:
    u = utilization(CHECKPOINTS_ONLY, 2, dt_s, seed=1)[1:]
    # Two days hold 72 whole 40-min periods, each taking (0.9 − 0.1) × 2 min off the steps it falls in.
    deficit_min = float((0.9 - u).sum()) * dt_s / 60.0
    assert deficit_min == pytest.approx(72 * 0.8 * 2.0, abs=1e-6)
    if dt_s <= 40 * 60 - 120:  # at most one stall per step: visible, never deeper than the whole stall
        depth = 0.8 * min(1.0, 120.0 / dt_s)
        assert 0.9 - depth - 1e-9 <= u.min() <= 0.9 - depth / 2.0 + 1e-9


def test_daily_means_do_not_depend_on_the_step() -> None:
    training = LoadProfile(shape="training", noise_std=0.0, training=TrainingLoad(job_hours=6.0, gap_hours=1.0,
                                                                                  failure_mtbf_h=3.0))
    inference = LoadProfile(shape="inference", noise_std=0.0, inference={"bursts_per_hour": 0.0})
    for prof in (training, inference):
        exact = np.array([daily_means(prof, 7, dt, seed=5) for dt in (60.0, 300.0, 900.0)])
        np.testing.assert_allclose(exact[1:], exact[[0, 0]], rtol=0.0, atol=1e-9)
    assert np.ptp(daily_means(training, 7, 300.0, seed=5)) > 0.05  # the days do differ: jobs, gaps, failures
    # With the default AR(1) noise (σ 0.02, τ 1 h: a day's mean varies by about 0.006, its shocks differ with
    # the step) and bursts clipped at full load, days agree within 0.03 and the week within 0.01.
    for prof in (LoadProfile(shape="training"), LoadProfile(shape="inference")):
        by_dt = np.array([daily_means(prof, 7, dt, seed=5) for dt in (60.0, 300.0, 900.0)])
        assert np.max(np.abs(by_dt[1:] - by_dt[0])) < 0.03
        assert np.max(np.abs(by_dt[1:].mean(axis=1) - by_dt[0].mean())) < 0.01


@pytest.mark.parametrize("peak_hour", [14.0, 20.5])
def test_inference_peaks_at_its_hour_with_its_swing(peak_hour: float) -> None:
    prof = LoadProfile(shape="inference", noise_std=0.0, inference={"peak_hour": peak_hour, "weekend_drop": 0.0,
                                                                    "diurnal_amplitude": 0.4})
    dt = 300.0
    u = utilization(prof, 28, dt, seed=2)[1:]
    mid_h = ((np.arange(len(u)) + 0.5) * dt / 3600.0) % 24.0  # each row is the mean of the step before it
    phasor = np.sum(u * np.exp(2j * np.pi * mid_h / 24.0))
    fitted_peak = (np.angle(phasor) * 24.0 / (2.0 * np.pi)) % 24.0
    assert abs((fitted_peak - peak_hour + 12.0) % 24.0 - 12.0) < 0.25
    swing = 2.0 * abs(phasor) / len(u) / u.mean()
    assert 0.3 < swing < 0.45  # A = 0.4 around a mean lifted a little by the bursts
    assert u.mean() == pytest.approx(prof.inference_load.expected_utilization, abs=0.02)
    enterprise = utilization(LoadProfile(noise_std=0.0), 28, dt, seed=2)
    assert np.ptp(u) > 2.0 * np.ptp(enterprise)  # stronger than the enterprise day


def test_inference_weekends_drop() -> None:
    prof = LoadProfile(shape="inference", noise_std=0.0, inference={"weekend_drop": 0.3, "bursts_per_hour": 0.0})
    days = daily_means(prof, 14, 600.0, seed=0)
    np.testing.assert_allclose(days[[5, 6, 12, 13]], 0.55 * 0.7, atol=1e-9)
    np.testing.assert_allclose(days[[0, 1, 2, 3, 4, 7]], 0.55, atol=1e-9)


def test_seeded_reproducible_and_seed_dependent() -> None:
    for prof in (LoadProfile(shape="training"), LoadProfile(shape="inference")):
        a, b = utilization(prof, 30, 300.0, seed=9), utilization(prof, 30, 300.0, seed=9)
        assert a.tobytes() == b.tobytes()
        assert not np.array_equal(a, utilization(prof, 30, 300.0, seed=10))
        assert a.min() >= 0.0 and a.max() <= 1.0


def test_compiled_and_plain_numpy_kernels_agree(tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import numpy as np, sys
        from coolpilot.envs.load import LoadProfile, synthetic_utilization
        rows = [synthetic_utilization(LoadProfile(shape=s, training={"jobs": 3} if s == "training" else None),
                                      86400.0 * 40, 300.0, 2000, np.random.default_rng(4))
                for s in ("training", "inference")]
        np.save(sys.argv[1], np.array(rows))
    """)
    results = []
    for jit in ("1", "0"):
        path = str(tmp_path / f"jit{jit}.npy")
        subprocess.run([sys.executable, "-c", code, path], check=True, env=dict(os.environ, COOLPILOT_JIT=jit),
                       timeout=300)
        results.append(np.load(path))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-9, atol=1e-9)


def ai_hall() -> FacilityConfig:
    """modern-hall with a training pod, an inference pod and its enterprise pod."""
    data = yaml.safe_load((PRESETS_DIR / "modern-hall.yaml").read_text(encoding="utf-8"))
    data["name"] = "modern-hall-ai"
    data["zones"][0]["load"] = {"shape": "training", "noise_std": 0.01,
                                "training": {"job_hours": 8, "failure_mtbf_h": 4, "gap_hours": 1}}
    data["zones"][1]["load"] = {"shape": "inference", "inference": {"bursts_per_hour": 3}}
    return facility_from_mapping(data, "modern-hall-ai")


def test_single_and_vector_envs_draw_the_same_ai_episodes() -> None:
    n, seed, cfg = 3, 21, ai_hall()
    kwargs = {"facility": cfg, "climate": ["chicago", "miami"], "episode_days": 1, "dt_s": 3600.0}
    vec = DataCenterVectorEnv(n, **kwargs)  # type: ignore[arg-type]
    singles = [DataCenterEnv(**kwargs) for _ in range(n)]  # type: ignore[arg-type]
    first = np.array([env.reset(seed=seed + i)[0] for i, env in enumerate(singles)])
    assert vec.reset(seed=seed)[0].tobytes() == first.tobytes()
    actions = np.random.default_rng(0).uniform(-1, 1, (50, n, len(cfg.contract.setpoint_names))).astype(np.float32)
    for k in range(50):  # 24-step episodes: the vector env's next-step autoreset draws new ones at k = 24 and 49
        obs_v = vec.step(actions[k])[0]
        fresh = k % 25 == 24
        obs_s = [env.reset()[0] if fresh else env.step(actions[k, i])[0] for i, env in enumerate(singles)]
        assert obs_v.tobytes() == np.array(obs_s).tobytes(), f"step {k} differs"


def test_training_zone_swings_the_hall_it_power() -> None:
    env = DataCenterEnv(facility=ai_hall(), climate="chicago", episode_days=2)
    env.reset(seed=4)
    it = []
    for _ in range(2 * 288 - 1):
        _, _, _, _, info = env.step(np.zeros(len(env.cfg.contract.setpoint_names), np.float32))
        it.append(info["it_kw"])
    steps = np.abs(np.diff(it))
    assert steps.max() > 100.0  # a 500 kW training pod moving as one: a checkpoint, failure or job end


def facility_error(load: object) -> str:
    data = yaml.safe_load((PRESETS_DIR / "modern-hall.yaml").read_text(encoding="utf-8"))
    data["zones"][0]["load"] = load
    with pytest.raises(FacilityConfigError) as err:
        facility_from_mapping(data, "hall.yaml")
    return str(err.value)


@pytest.mark.parametrize(("load", "expected"), [
    ({"shape": "training", "training": {"checkpoint_min": -1}},
     "field 'zones[0].load.training.checkpoint_min' = -1 min: Input should be greater than or equal to 0 "
     "(allowed 0..120 min)"),
    ({"shape": "training", "training": {"failure_mtbf_h": 0.1}},
     "field 'zones[0].load.training.failure_mtbf_h' = 0.1 h: Input should be greater than or equal to 0.5 "
     "(allowed 0.5..100000 h)"),
    ({"shape": "training", "training": {"jobs": 100}},
     "field 'zones[0].load.training.jobs' = 100 1: Input should be less than or equal to 64 (allowed 1..64 1)"),
    ({"shape": "inference", "inference": {"peak_hour": 24}},
     "field 'zones[0].load.inference.peak_hour' = 24 h: Input should be less than 24 (allowed 0..24 h)"),
    ({"shape": "inference", "inference": {"bursts_per_hour": 100}},
     "field 'zones[0].load.inference.bursts_per_hour' = 100 1/h: Input should be less than or equal to 60 "
     "(allowed 0..60 1/h)"),
    ({"shape": "training", "training": {"job_utilization_min": 0.95, "job_utilization_max": 0.9}},
     "field 'zones[0].load.training.job_utilization_min' = 0.95 1: exceeds job_utilization_max = 0.9 "
     "(allowed 0..job_utilization_max 1)"),
    ({"shape": "gpu"}, "field 'zones[0].load.shape' = 'gpu': Input should be 'enterprise', 'training' or "
                       "'inference'"),
    ({"shape": "training", "diurnal_amplitude": 0.3},
     "field 'zones[0].load.diurnal_amplitude' = 0.3 1: applies to shape 'enterprise' only "
     "(allowed only with shape: enterprise)"),
    ({"shape": "inference", "peak_hour": 20},
     "field 'zones[0].load.peak_hour' = 20 h: applies to shape 'enterprise' only (set 'inference.peak_hour' "
     "instead)"),
    ({"training": {"jobs": 2}},
     "field 'zones[0].load.training' = (given): parameters of shape 'training' but shape is 'enterprise' "
     "(allowed only with shape: training)"),
    ({"shape": "inference", "trace_csv": "x.csv", "trace_column": "a_frac"},
     "field 'zones[0].load.trace_csv' = 'x.csv': a trace replaces the synthetic shape, so it cannot go with "
     "shape 'inference'"),
])
def test_bad_ai_load_inputs_are_refused_naming_field_value_unit_and_range(load: object, expected: str) -> None:
    assert expected in facility_error(load)


def test_profile_errors_outside_a_facility_file() -> None:
    with pytest.raises(ValidationError, match="checkpoint_interval_min"):
        TrainingLoad(checkpoint_interval_min=0.5)
    with pytest.raises(ValueError, match=r"dt_s = 7200 s is outside the allowed range 1..3600 s"):
        write_trace("unused.csv", {"a": LoadProfile(shape="training")}, days=1, dt_s=7200.0)
    with pytest.raises(ValueError, match="trace column name 'a,b'"):
        write_trace("unused.csv", {"a,b": LoadProfile(shape="training")}, days=1)


def test_trace_writer_round_trips_through_load_trace(tmp_path: Path) -> None:
    profiles = {"train": LoadProfile(shape="training"), "serve": LoadProfile(shape="inference")}
    path = tmp_path / "ai.csv"
    write_trace(path, profiles, days=2, dt_s=300.0, seed=8)
    trace = LoadTrace(path)
    assert sorted(trace.columns) == ["serve_frac", "train_frac"]
    table = load_table([list(profiles.values())], 2)
    shocks, x0 = np.empty((2, 577)), np.empty(2)
    draw_noise(table, 0, np.random.default_rng(8), shocks, x0)
    direct = synthetic_utilization_batch(np.zeros(1), 300.0, 577, *table[1:], shocks[None], x0[None])[0]
    read = trace.utilization("train_frac", 1.0, 0.0, 300.0, 576)
    np.testing.assert_allclose(read, direct[:576, 0], atol=1e-5)  # written with 5 decimals


SHIPPED = ROOT / "examples" / "traces" / "synthetic-ai-hall.csv"


def test_shipped_trace_is_reproducible_and_usable_as_a_zone_trace(tmp_path: Path) -> None:
    command = (ROOT / "examples" / "traces" / "README.md").read_text(encoding="utf-8")
    assert "python examples/traces/make_trace.py" in command
    out = tmp_path / "again.csv"
    subprocess.run([sys.executable, str(ROOT / "examples" / "traces" / "make_trace.py"), "--out", str(out)],
                   check=True, timeout=300, cwd=ROOT)
    assert out.read_bytes() == SHIPPED.read_bytes()
    data = yaml.safe_load((PRESETS_DIR / "modern-hall.yaml").read_text(encoding="utf-8"))
    data["zones"][0]["load"] = {"trace_csv": str(SHIPPED), "trace_column": "training_frac"}
    data["zones"][1]["load"] = {"trace_csv": str(SHIPPED), "trace_column": "inference_frac"}
    env = DataCenterEnv(facility=facility_from_mapping(data, "hall.yaml"), climate="chicago", episode_days=1)
    obs, _ = env.reset(seed=0)
    assert np.all(np.isfinite(obs))
