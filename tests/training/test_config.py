import numpy as np
import pytest
from flax import nnx

import jetbook as jb
from jetbook import fields
from jetbook.training import presets
from jetbook.training import data


def test_presets_pair_models_with_training():
    assert set(jb.presets) == set(presets.RECIPES) - {"tarflow_digits"} >= {
        "digits", "patches", "cifar10", "imagenet32", "imagenet64", "in64_ablation"}
    for name, preset in presets.RECIPES.items():
        assert isinstance(preset.train, jb.TrainConfig)
        if name in jb.presets:                           # jb.presets: the Jet presets
            assert jb.presets[name] is preset.model and isinstance(preset.model, jb.JetConfig)
    assert isinstance(jb.get_preset("tarflow_digits").model, jb.TarFlowConfig)
    for name, preset in presets.RECIPES.items():         # offline data fits its presets
        if preset.train.dataset in data.OFFLINE:
            images = jb.load_dataset(preset.train.dataset, "test")
            assert images.shape[1:] == preset.model.image_shape, name


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown preset 'mnist'; choose one of \['cifar10'"):
        jb.get_preset("mnist")


def test_preset_configs_send_each_change_to_the_config_that_has_the_field():
    model, train = presets.preset_configs("digits", ["num_classes=10", "noise_sigma=0.1"],
                                         steps=7, batch_size=16)
    preset = jb.get_preset("digits")
    assert model == preset.model.replace(num_classes=10)
    assert train == preset.train.replace(noise_sigma=0.1, steps=7, batch_size=16)
    tarflow, _ = presets.preset_configs("tarflow_digits", ["num_blocks=2"])
    assert isinstance(tarflow, jb.TarFlowConfig) and tarflow.num_blocks == 2
    with pytest.raises(ValueError, match=r"--set vit_widht: unknown field; TrainConfig has"):
        presets.preset_configs("digits", ["vit_widht=3"])


def test_dict_round_trip_and_unknown_keys():
    cfg = jb.presets["patches"].replace(kinds=("channel",) * 7 + ("rows",))
    assert fields.from_dict(jb.JetConfig, fields.to_dict(cfg)) == cfg
    tc = jb.TrainConfig(data_dir="/x")
    assert fields.from_dict(jb.TrainConfig, fields.to_dict(tc)) == tc
    with pytest.raises(ValueError, match=r"JetConfig has no field\(s\) \['vit_widht'\]"):
        fields.from_dict(jb.JetConfig, {"vit_widht": 3})


def test_split_matrices_come_from_the_config():
    cfg = jb.JetConfig(image_shape=(8, 8, 3), patch_size=2, num_couplings=6, vit_width=16,
                       vit_heads=2, split_seed=7)
    model = jb.Jet(cfg, rngs=nnx.Rngs(0))
    kinds = cfg.coupling_kinds
    channel = [cfg.split_matrix(i) for i, k in enumerate(kinds) if k == "channel"]
    spatial = [cfg.split_matrix(i) for i, k in enumerate(kinds) if k != "channel"]
    np.testing.assert_array_equal(model.channel_splits[...], np.stack(channel))
    np.testing.assert_array_equal(model.spatial_splits[...], np.stack(spatial))
    assert not np.array_equal(channel[0], channel[1])       # a different permutation per coupling
    assert not np.array_equal(cfg.split_matrix(0), cfg.replace(split_seed=8).split_matrix(0))
    # whole patches: a spatial half has K/2 tokens; half-patch tokens: K in both families
    assert cfg.conditioner_tokens(spatial=False) == 16 and cfg.conditioner_tokens(spatial=True) == 8
    halves = cfg.replace(spatial_tokens="half_patches")
    assert halves.conditioner_tokens(spatial=False) == 16 and halves.conditioner_tokens(spatial=True) == 16
    assert cfg.replace(coupling_mode="masking").conditioner_tokens(spatial=True) == 16
