"""One registry builds every uwe component: a new module registers itself, names are unique and checked, and
every config file of the head, loss, pooling and model groups builds through it."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from torch import nn

from uwe.errors import ConfigError
from uwe.eval.models import MODELS
from uwe.eval.run import build_scorer, check_model
from uwe.eval.scorers import BaselineScorer, EncoderScorer
from uwe.models.heads import HEADS, ScoringHead
from uwe.models.losses import LOSSES
from uwe.models.pooling import POOLINGS, resolve_pooling
from uwe.models.registry import Registry

CONF = Path(__file__).resolve().parents[1] / "conf"


def config_names(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def compose_config(name: str, *overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=name, overrides=["paths.output_dir=unused", *overrides])


# The registry --------------------------------------------------------------------------------------------
@pytest.fixture
def plugin_package(tmp_path, monkeypatch):
    """A package ``plugin_heads`` whose ``__init__`` makes a registry and imports none of its modules; a test
    adds module files. Its modules leave ``sys.modules`` afterwards."""
    package = tmp_path / "plugin_heads"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent('''
        """Heads from files of this folder."""
        from uwe.models.registry import Registry

        REGISTRY = Registry("head", __name__)
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield package
    for name in [m for m in sys.modules if m == "plugin_heads" or m.startswith("plugin_heads.")]:
        del sys.modules[name]


def test_a_new_module_registers_itself_without_editing_the_package_init(plugin_package):
    (plugin_package / "scaled_cosine.py").write_text(textwrap.dedent('''
        """A head only this test knows."""
        from plugin_heads import REGISTRY
        from uwe.models.heads import CosineHead


        @REGISTRY.register("scaled_cosine")
        class ScaledCosineHead(CosineHead):
            def __init__(self, scale: float = 1.0):
                super().__init__()
                self.scale = scale
    '''))
    import plugin_heads

    assert "plugin_heads.scaled_cosine" not in sys.modules  # the __init__ does not import it
    head = plugin_heads.REGISTRY.build("scaled_cosine", scale=2.0)
    assert isinstance(head, ScoringHead) and head.scale == 2.0
    assert plugin_heads.REGISTRY.names() == ["scaled_cosine"]


def test_a_module_that_fails_to_import_fails_every_lookup(plugin_package):
    (plugin_package / "broken.py").write_text("raise RuntimeError('broken head module')\n")
    import plugin_heads

    for _ in range(2):  # not only the first: a half-discovered registry never answers
        with pytest.raises(RuntimeError, match="broken head module"):
            plugin_heads.REGISTRY.names()


def test_a_taken_name_is_refused():
    shapes = Registry("shape")

    @shapes.register("square")
    def square():
        return 1

    with pytest.raises(ValueError, match=r"shape 'square' is registered twice: by .*square and by .*other"):
        @shapes.register("square")
        def other():
            return 2

    assert shapes["square"] is square
    with pytest.raises(ValueError, match="head 'cosine' is registered twice"):
        HEADS.register("cosine")(type("Impostor", (ScoringHead,), {}))
    assert HEADS["cosine"].__name__ == "CosineHead"


def test_the_same_definition_registered_again_replaces_itself():
    """A module imported anew (importlib.reload) registers its classes again; that is not a clash."""
    shapes = Registry("shape")
    first = type("Square", (), {"__module__": "shapes"})
    again = type("Square", (), {"__module__": "shapes"})
    shapes.register("square")(first)
    shapes.register("square")(again)
    assert shapes["square"] is again and len(shapes) == 1


@pytest.mark.parametrize("registry, message", [
    (HEADS, "unknown head 'colbert'; valid: cosine, maxsim, soft_li, soft_li_pooled"),
    (LOSSES, "unknown loss 'colbert'; valid: infonce, m2m_infonce, rankpo, sym_infonce"),
    (POOLINGS, "unknown pooling 'colbert'; valid: cls, mean"),
    (MODELS, "unknown model 'colbert'; valid: bm25, encoder, random"),
])
def test_unknown_names_list_the_valid_ones(registry, message):
    with pytest.raises(ConfigError, match=f"^{message}$"):
        registry.build("colbert")
    with pytest.raises(ConfigError, match="^" + message.replace("'colbert'", r"\['a'\]") + "$"):
        registry.lookup(["a"])  # a list from the command line, not a name
    with pytest.raises(ConfigError, match=f"the {registry.kind} config {{}} has no name; valid: "):
        registry.from_config({})


def test_registries_are_read_only_mappings_in_registration_order():
    assert list(HEADS) == ["cosine", "maxsim", "soft_li_pooled", "soft_li"]
    assert HEADS.names() == ["cosine", "maxsim", "soft_li", "soft_li_pooled"]
    assert dict(LOSSES.items()) == {name: LOSSES[name] for name in ["infonce", "sym_infonce", "m2m_infonce", "rankpo"]}
    assert "cls" in POOLINGS and "tokens" not in POOLINGS and POOLINGS.get("max") is None
    with pytest.raises(KeyError):
        HEADS["colbert"]
    with pytest.raises(TypeError):
        HEADS["x"] = ScoringHead  # joining is register()'s job


# Every config file builds through it --------------------------------------------------------------------
def test_every_registered_name_has_its_config_file():
    """``head=<name>`` works for every registered head (and so on): a component is its file and its config."""
    assert set(HEADS) <= set(config_names("head")) and set(LOSSES) <= set(config_names("loss"))
    assert set(config_names("pooling")) == {*POOLINGS, "tokens"}
    assert set(config_names("model")) == set(MODELS)


@pytest.mark.parametrize("name", config_names("head"))
def test_every_head_config_builds(name):
    cfg = compose_config("train", f"head={name}").head
    head = HEADS.from_config(cfg)
    assert isinstance(head, HEADS[cfg.name]) and isinstance(head, ScoringHead)
    for key, value in cfg.items():
        if key != "name":
            assert getattr(head, key) == value


def test_a_head_config_keeps_its_recorded_values():
    """Recorded results and checkpoints hold these nodes; a run is reused only when they compose identically."""
    assert dict(compose_config("train", "head=soft_li").head) == {"name": "soft_li", "tau_a": 0.1,
                                                                   "normalize_query_tokens": True}
    assert dict(compose_config("eval", "head=soft_li_tau05").head) == {"name": "soft_li", "tau_a": 0.5,
                                                                        "normalize_query_tokens": True}


@pytest.mark.parametrize("name", config_names("loss"))
def test_every_loss_config_builds(name):
    cfg = compose_config("train", f"loss={name}").loss
    loss = LOSSES.from_config(cfg)
    assert isinstance(loss, LOSSES[cfg.name]) and isinstance(loss, nn.Module)


@pytest.mark.parametrize("name", config_names("pooling"))
def test_every_pooling_config_resolves_to_a_registered_pooling(name):
    cfg = compose_config("eval", f"pooling={name}").pooling
    pooling, keep_tokens = resolve_pooling(cfg.name)
    assert callable(POOLINGS.lookup(pooling)) and keep_tokens == (name == "tokens")


@pytest.mark.parametrize("name", config_names("model"))
def test_every_model_config_builds(name, tmp_path):
    cfg = compose_config("eval", f"model={name}", f"paths.cache_dir={tmp_path}", "device=cpu",
                         *(["encoder=tiny"] if name == "encoder" else []))
    scorer = build_scorer(cfg)
    assert isinstance(scorer, EncoderScorer if name == "encoder" else BaselineScorer)
    assert scorer.describe()["kind"] == ("encoder" if name == "encoder" else "baseline")


def test_only_the_encoder_model_composes_an_encoder_pooling_and_head():
    default = compose_config("eval")
    assert default.model == {"name": "encoder"} and default.encoder.name == "minilm"
    assert (default.pooling.name, default.head.name) == ("mean", "cosine")
    swapped = compose_config("eval", "encoder=mpnet", "head=soft_li", "pooling=tokens")
    assert (swapped.encoder.name, swapped.head.name, swapped.pooling.name) == ("mpnet", "soft_li", "tokens")
    for baseline in ("bm25", "random"):
        cfg = compose_config("eval", f"model={baseline}")
        assert cfg.model == {"name": baseline} and not {"encoder", "pooling", "head"} & set(cfg)


def test_model_config_mistakes_are_checked_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown model 'foo'; valid: bm25, encoder, random"):
        check_model(compose_config("eval", "model.name=foo"))
    ckpt = tmp_path / "run.ckpt"
    ckpt.write_bytes(b"")
    with pytest.raises(ConfigError, match=r"ckpt_path=.*run.ckpt is not valid with model=bm25: a checkpoint is "
                                          r"evaluated by model=encoder \(the default\)"):
        check_model(compose_config("eval", "model=bm25", f"ckpt_path={ckpt}"))
