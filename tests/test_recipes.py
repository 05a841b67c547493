"""Render recipes (``simkit render --recipe``): values, precedence, recording, errors, and what seed000's
translation gives ours_rt."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch

from simkit.errors import SimkitError
from simkit.models.direction.base import rotation_loss, translation_loss
from simkit.render.config import RenderConfig, load_render_config
from simkit.render.recipes import get_recipe, recipe_names


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "simkit", *args], capture_output=True, text=True, timeout=300)


def dotted(cfg: RenderConfig, key: str) -> object:
    value: object = cfg
    for part in key.split("."):
        value = getattr(value, part)
    return value


@pytest.mark.parametrize("name", ["binaural", "binaural-solo", "seed000", "slfm-hm3d-ss", "wild"])
def test_every_recipe_value_applies_cites_a_source_and_is_recorded(name):
    recipe = get_recipe(name)
    cfg = load_render_config(recipe=name)
    assert cfg.recipe == name and recipe.reproduces and recipe.differs
    for key, v in recipe.values.items():
        assert dotted(cfg, key) == v.value, key
        assert v.source.strip(), key
    assert cfg.content_dict()["recipe"] == name
    assert cfg.config_hash() != RenderConfig().config_hash()


def test_the_two_recipes_differ_in_translation_only_where_the_sources_do():
    seed = load_render_config(recipe="seed000")
    slfm = load_render_config(recipe="slfm-hm3d-ss")
    assert seed.sampling.max_translation > 0 and slfm.sampling.max_translation == 0
    assert seed.sampling.views == slfm.sampling.views == 4
    assert recipe_names() == ["binaural", "binaural-solo", "seed000", "slfm-hm3d-ss", "wild"]


def test_no_recipe_keeps_the_config_bytes_and_hash_of_before():
    cfg = load_render_config()
    assert cfg.recipe == "" and "recipe" not in cfg.content_dict()
    assert cfg.config_hash() == RenderConfig().config_hash() == "0a50415382e0ff58"


def test_binaural_solo_is_the_binaural_recipe_with_one_source_per_set():
    solo, binaural = load_render_config(recipe="binaural-solo"), load_render_config(recipe="binaural")
    assert solo.sampling.sources == 1 and binaural.sampling.sources == 3
    assert dataclasses.replace(solo, recipe="binaural", sampling=binaural.sampling) == binaural
    assert dataclasses.replace(solo.sampling, sources=3) == binaural.sampling
    assert solo.config_hash() != binaural.config_hash()
    assert set(get_recipe("binaural").values) < set(get_recipe("binaural-solo").values)


def test_precedence_defaults_recipe_file_flags(tmp_path):
    file = tmp_path / "c.json"
    file.write_text(json.dumps({"sampling": {"max_translation": 0.25}}))
    assert load_render_config(file, recipe="seed000").sampling.max_translation == 0.25  # file beats recipe
    assert load_render_config(file, recipe="seed000").sets_per_scene == 500  # the rest of the recipe stays
    flags = {"sampling.max_translation": 0.1, "sets_per_scene": None}  # None: the flag was not given
    cfg = load_render_config(file, flags, recipe="seed000")
    assert cfg.sampling.max_translation == 0.1 and cfg.sets_per_scene == 500  # flag beats file and recipe
    assert load_render_config(None, {"sampling.views": 2}, recipe="seed000").sampling.views == 2
    # a file that names a recipe (a manifest's config) applies it; an explicit recipe replaces it
    named = tmp_path / "named.json"
    named.write_text(json.dumps({"recipe": "seed000", "sets_per_scene": 3}))
    cfg = load_render_config(named)
    assert (cfg.recipe, cfg.sampling.max_translation, cfg.sets_per_scene) == ("seed000", 1.0, 3)
    cfg = load_render_config(named, recipe="slfm-hm3d-ss")
    assert (cfg.recipe, cfg.sampling.max_translation, cfg.sets_per_scene) == ("slfm-hm3d-ss", 0.0, 3)


def test_unknown_recipe_is_one_error_naming_the_known_ones(tmp_path):
    known = "binaural, binaural-solo, seed000, slfm-hm3d-ss, wild"
    with pytest.raises(SimkitError, match=f"unknown recipe 'nope' \\(known: {known}\\)"):
        load_render_config(recipe="nope")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"recipe": 5}))
    with pytest.raises(SimkitError, match="recipe must be a recipe name"):
        load_render_config(bad)
    proc = run_cli("render", "--recipe", "nope", "--scenes", "1", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert err == [f"error: unknown recipe 'nope' (known: {known})"], proc.stderr
    assert not (tmp_path / "o").exists()


def test_render_with_a_recipe_records_it_and_translates_the_views(tmp_path):
    out = tmp_path / "r"
    proc = run_cli("render", "--recipe", "seed000", "--scenes", "proc_000", "--sets-per-scene", "2",
                   "--sources", "2", "--no-views", "--quiet", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    config = manifest["config"]
    assert config["recipe"] == "seed000" and config["sampling"]["max_translation"] == 1.0
    assert config["sets_per_scene"] == 2  # the flag beat the recipe's 500
    # the manifest's config reloads to the render's hash (a resume from it is the same render)
    (tmp_path / "m.json").write_text(json.dumps(config))
    assert load_render_config(tmp_path / "m.json").config_hash() == manifest["config_hash"]
    with h5py.File(out / "shards" / "proc_000.h5", "r") as f:
        t = np.asarray(f["pairs/rel_translation"])
        azimuth, rel_yaw = np.asarray(f["labels/azimuth_deg"]), np.asarray(f["pairs/rel_yaw_deg"])
    off_diagonal = ~np.eye(t.shape[1], dtype=bool)
    assert np.linalg.norm(t[:, off_diagonal][..., [0, 2]], axis=-1).min() > 0  # every view moved
    # what the recipe is for: ours_rt's translation term tells the true azimuths from their left/right flip
    # (its rotation term, with the front/back mirror minimum, cannot)
    n_sets, n_views, n_sources = azimuth.shape
    theta = torch.deg2rad(torch.as_tensor(azimuth).permute(0, 2, 1).reshape(-1, n_views).float())
    per_source = {k: torch.as_tensor(v).repeat_interleave(n_sources, dim=0) for k, v in
                  {"rel_yaw_deg": rel_yaw, "rel_translation": t}.items()}
    truth = translation_loss(theta, per_source["rel_yaw_deg"], per_source["rel_translation"])
    flipped = translation_loss(-theta, per_source["rel_yaw_deg"], per_source["rel_translation"])
    assert float(truth) < 0.02 < float(flipped), (float(truth), float(flipped))
    assert torch.isclose(rotation_loss(theta, per_source["rel_yaw_deg"], mirror=True),
                         rotation_loss(-theta, per_source["rel_yaw_deg"], mirror=True))


def test_the_python_api_applies_a_recipe_below_its_config_and_flags() -> None:
    from simkit.api import render_config
    from simkit.render.config import RenderConfig

    cfg = render_config(None, {}, "seed000")
    assert cfg.recipe == "seed000" and cfg == render_config({"recipe": "seed000"})
    assert cfg.sampling.max_translation > 0 and RenderConfig().sampling.max_translation == 0
    # a mapping beats the recipe, a dotted override beats both
    mine = render_config({"sampling": {"max_translation": 0.25}}, {"sets_per_scene": 2}, "seed000")
    assert (mine.recipe, mine.sampling.max_translation, mine.sets_per_scene) == ("seed000", 0.25, 2)
    assert render_config(RenderConfig()).config_hash() == RenderConfig().config_hash()
