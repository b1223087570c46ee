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
    # one new run at x = 3 adds the residual variance: 3.5 + 1.5 = 5
    low, high = fit.band([8], new_run=True)
    assert fit.sigma2 == pytest.approx(1.5)
    assert (low[0], high[0]) == pytest.approx((2.0 - 12.706204736 * math.sqrt(5), 2.0 + 12.706204736 * math.sqrt(5)))


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
    zero-shot + 7.9 and the runs; a run of another recipe is tabulated but not fitted; two runs give no fit."""
    spec = importlib.util.spec_from_file_location("scaling_plot", ROOT / "experiments" / "scaling" / "plot.py")
    plot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plot)
    base = plot.zero_shot()
    # three cuts of the plain recipe on a line, and a 512-node run far off it that the fit must leave out
    runs = [(0.25, 40_000, 128, 0.30), (0.5, 80_000, 128, 0.31), (1.0, 160_000, 128, 0.32), (1.0, 160_000, 512, 0.5)]
    for i, (fraction, pairs, nodes, value) in enumerate(runs):
        record = {"graphs": {"vacancy_skill": {"edges": pairs, "left": pairs // 35}},
                  "config": {"task_mix": {"graphs": {"vacancy_skill": {"fraction": fraction}}}, "seed": 42,
                             "encoder": {"name": "minilm"}, "batch": {"nodes": nodes},
                             "optimizer": {"lr": 3e-5}, "trainer": {"max_steps": 500 if nodes == 128 else 125}},
                  "libraries": {"accelerator": "cpu (AMD EPYC, 2 cores)"}, "precision": "32-true",
                  "macro": {"map": value},
                  "tasks": {t: {"metrics": {"map": value / 2}} for t in ("job2skill/test", "skill2job/test")}}
        (tmp_path / "runs" / f"r{i}").mkdir(parents=True)
        (tmp_path / "runs" / f"r{i}" / "results.json").write_text(json.dumps(record))
    plot.main(["--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out")])
    summary = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [r["changed"] for r in summary["runs"]] == [{}, {}, {}, {"nodes": 512, "steps": 125}]
    table = (tmp_path / "out" / "results.md").read_text()
    assert "| 1 | 160,000 | 42 | MiniLM, 512 nodes x 125 steps | 50.00 |" in table
    assert (tmp_path / "out" / "limits.png").stat().st_size > 10_000
    macro = summary["fits"]["macro"]
    assert macro["per_doubling"] == pytest.approx(1.0) and macro["per_doubling_se"] == pytest.approx(0, abs=1e-9)
    # 30 MAP at 40k pairs, +1 per doubling: zero-shot + 7.9 is reached after (base + 7.9 - 30) doublings
    assert macro["pairs_for_paper_gain"] == pytest.approx(40_000 * 2 ** (base["macro"] + 7.9 - 30.0))
    assert summary["fits"]["job2skill/test"]["per_doubling"] == pytest.approx(0.5)
    # what N pairs should give: 30 at 40k, +1 per doubling; 10k and 3.3M lie outside the measured 40k to 160k
    expect = {e["pairs"]: e for e in macro["expect"]}
    assert expect[10_000]["map"] == pytest.approx(28.0) and expect[10_000]["extrapolated"]
    assert expect[100_000]["run_95"] == pytest.approx([30 + math.log2(2.5)] * 2)  # no residual: no spread
    assert not expect[100_000]["extrapolated"]
    assert "| 10,000* | 28.00 | 28.00 to 28.00 | 28.00 to 28.00 |" in table
    assert summary["fits"]["macro"]["runs"] == 3 and (tmp_path / "out" / "scaling.png").stat().st_size > 10_000
    (tmp_path / "runs" / "r0" / "results.json").unlink()
    plot.main(["--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "two")])
    assert json.loads((tmp_path / "two" / "results.json").read_text())["fits"]["macro"] is None


def test_a_run_is_named_by_its_cut_seed_and_what_it_changed():
    import doctest

    spec = importlib.util.spec_from_file_location("scaling_variant", ROOT / "experiments" / "scaling" / "variant.py")
    variant = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(variant)
    assert doctest.testmod(variant).failed == 0
    record = json.loads((ROOT / "experiments/scaling/runs/vacancy_1_seed42/results.json").read_text())
    run = variant.settings(record)
    assert run == {"fraction": 1.0, "seed": 42, "encoder": "minilm", "nodes": 128, "lr": 3e-5, "steps": 500}
    assert variant.run_name(run) == "vacancy_1_seed42"
    assert variant.run_name(run | {"lr": 8e-5}) == "vacancy_1_seed42_lr8e-05"
