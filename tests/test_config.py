"""The Hydra config tree composes, and every task_mix names real graphs with alpha and tau."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from uwe.data.graphs import GRAPHS
from uwe.data.mix import parse_mix

CONF = Path(__file__).resolve().parents[1] / "conf"
MIXES = sorted(p.stem for p in (CONF / "task_mix").glob("*.yaml"))


def compose_train(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


@pytest.mark.parametrize("mix", [m for m in MIXES if m != "none"])
def test_every_task_mix_composes(mix):
    graphs = OmegaConf.to_container(compose_train(f"task_mix={mix}").task_mix.graphs)
    parsed = parse_mix(graphs)
    assert parsed and set(parsed) <= set(GRAPHS)
    assert all(c.fraction == 1.0 and c.pairs is None for c in parsed.values())


def weights(graphs) -> dict[str, tuple[float, float]]:
    return {name: (c.alpha, c.tau) for name, c in parse_mix(OmegaConf.to_container(graphs)).items()}


def test_mix_contents_and_paper_weights():
    assert weights(compose_train("task_mix=all").task_mix.graphs) == {
        "vacancy_skill": (1.0, 0.05),
        "occupation_alias": (0.5, 0.02),
        "skill_alias": (0.5, 0.02),
        "skill_description": (0.5, 0.02),
    }
    assert list(compose_train("task_mix=job2skill").task_mix.graphs) == ["vacancy_skill"]
    # leave-one-out mixes are task_mix=all with one graph null: derived, so they follow all.yaml
    for left_out in ("vacancy_skill", "occupation_alias", "skill_alias", "skill_description"):
        loo = weights(compose_train(f"task_mix=no_{left_out}").task_mix.graphs)
        assert set(loo) == {"vacancy_skill", "occupation_alias", "skill_alias", "skill_description"} - {left_out}
        assert all(loo[g] == (1.0, 0.05) if g == "vacancy_skill" else (0.5, 0.02) for g in loo)
    assert set(parse_mix(OmegaConf.to_container(compose_train("task_mix=all_onet").task_mix.graphs))) == {
        "vacancy_skill", "occupation_alias", "skill_alias", "skill_description", "onet_skill"}
    tuned = compose_train("task_mix=all", "task_mix.graphs.skill_alias.tau=0.1").task_mix.graphs.skill_alias
    assert tuned.tau == 0.1


def test_bad_mix_values_are_refused():
    from uwe.data.errors import DataError

    with pytest.raises(DataError, match="tau > 0"):
        parse_mix({"skill_alias": {"alpha": 1, "tau": 0}})
    with pytest.raises(DataError, match="alpha > 0"):  # the same bound as the early config check
        parse_mix({"skill_alias": {"alpha": 0, "tau": 0.05}})
    with pytest.raises(DataError, match="no graphs"):
        parse_mix({"skill_alias": None})
    with pytest.raises(DataError, match="graph skill_alias has no tau; set them in conf/graph/skill_alias.yaml"):
        parse_mix({"skill_alias": {"alpha": 0.5}})  # no hidden default: the graph's config file is the one source
    with pytest.raises(DataError, match="unknown graph 'skils'"):
        parse_mix({"skils": {}})


def test_eval_backend_is_checked_before_any_work():
    from uwe.config import check_eval_config
    from uwe.errors import ConfigError

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        good = compose(config_name="eval", overrides=["backend=onnx"])
        bad = compose(config_name="eval", overrides=["backend=onnx-int8"])
    check_eval_config(good)
    with pytest.raises(ConfigError, match="backend='onnx-int8' is not valid: expected torch, onnx or auto"):
        check_eval_config(bad)
