"""The scaling study's law: MAP on log2(pairs) by least squares, its band and what it implies (hand-computed)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("scaling_law", ROOT / "experiments" / "scaling" / "law.py")
law = importlib.util.module_from_spec(spec)
sys.modules["scaling_law"] = law  # dataclasses look their module up there
spec.loader.exec_module(law)


def test_a_line_in_log2_is_recovered_and_inverted():
    fit = law.fit_log2([2 ** 10, 2 ** 11, 2 ** 12], [30.0, 31.5, 33.0])
    assert fit.slope == pytest.approx(1.5) and fit.intercept == pytest.approx(30.0 - 15.0)
    assert fit.pairs_for(36.0) == pytest.approx(2 ** 14)
    assert np.allclose(fit.cov, 0.0)  # no residual: no uncertainty
    assert law.fit_log2([1, 2], [5.0, 4.0]).pairs_for(10.0) == math.inf  # a falling line never gets there


def test_the_band_is_the_t_interval_of_the_fitted_mean():
    # x = log2 pairs = 0, 1, 2; y = 0, 2, 1: slope 0.5, intercept 0.5, residuals -0.5, 1, -0.5 -> s^2 = 1.5 / 1
    fit = law.fit_log2([1, 2, 4], [0.0, 2.0, 1.0])
    assert (fit.intercept, fit.slope) == pytest.approx((0.5, 0.5))
    # (X'X)^-1 = [[5, -3], [-3, 3]] / 6, so at x = 3 the variance of the mean is 1.5 * (5 - 18 + 27) / 6 = 3.5
    low, high = fit.band([8])
    half = 12.706204736 * math.sqrt(3.5)  # t(0.975, 1 degree of freedom)
    assert (low[0], high[0]) == pytest.approx((2.0 - half, 2.0 + half), rel=1e-6)
    assert math.sqrt(fit.cov[1, 1]) == pytest.approx(math.sqrt(1.5 * 3 / 6))


def test_too_few_runs_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="at least 2 distinct sizes"):
        law.fit_log2([1000, 1000], [30.0, 31.0])
    with pytest.raises(ValueError, match="at least 3 runs"):
        law.fit_log2([1000, 2000], [30.0, 31.0]).band([4000])


def test_the_module_examples_hold():
    import doctest

    assert doctest.testmod(law).failed == 0


def test_the_plot_script_fits_the_runs_it_finds(tmp_path):
    """Three runs on a line of +1.0 MAP per doubling: the study's results.json holds that slope, its inverse at
    zero-shot + 7.9 and the runs; two runs give points but no fit."""
    spec = importlib.util.spec_from_file_location("scaling_plot", ROOT / "experiments" / "scaling" / "plot.py")
    plot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plot)
    base = plot.zero_shot()
    for i, (fraction, pairs) in enumerate([(0.25, 40_000), (0.5, 80_000), (1.0, 160_000)]):
        value = 0.30 + 0.01 * i
        record = {"graphs": {"vacancy_skill": {"edges": pairs, "left": pairs // 35}},
                  "config": {"task_mix": {"graphs": {"vacancy_skill": {"fraction": fraction}}}, "seed": 42},
                  "libraries": {"accelerator": "cpu (AMD EPYC, 2 cores)"}, "precision": "32-true",
                  "macro": {"map": value},
                  "tasks": {t: {"metrics": {"map": value / 2}} for t in ("job2skill/test", "skill2job/test")}}
        (tmp_path / "runs" / f"r{i}").mkdir(parents=True)
        (tmp_path / "runs" / f"r{i}" / "results.json").write_text(json.dumps(record))
    plot.main(["--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out")])
    summary = json.loads((tmp_path / "out" / "results.json").read_text())
    macro = summary["fits"]["macro"]
    assert macro["per_doubling"] == pytest.approx(1.0) and macro["per_doubling_se"] == pytest.approx(0, abs=1e-9)
    # 30 MAP at 40k pairs, +1 per doubling: zero-shot + 7.9 is reached after (base + 7.9 - 30) doublings
    assert macro["pairs_for_paper_gain"] == pytest.approx(40_000 * 2 ** (base["macro"] + 7.9 - 30.0))
    assert summary["fits"]["job2skill/test"]["per_doubling"] == pytest.approx(0.5)
    assert len(summary["runs"]) == 3 and (tmp_path / "out" / "scaling.png").stat().st_size > 10_000
    (tmp_path / "runs" / "r0" / "results.json").unlink()
    plot.main(["--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "two")])
    assert json.loads((tmp_path / "two" / "results.json").read_text())["fits"]["macro"] is None
