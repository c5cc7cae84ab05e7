"""Shipped trained models: exported from a training checkpoint without pickle, loaded offline,
and each reproduces the held-out bits/dim its JSON file documents."""
import json
import pathlib

import jax
import numpy as np
import pytest
from flax import nnx

import jetbook as jb
from jetbook.training import checkpoints
from jetbook import cli, shipped
from jetbook.experiments import export
from jetbook.training.evaluation import _eval_bpd
from jetbook.training.step import build_model_and_optimizer

TINY = jb.JetConfig(image_shape=(8, 8, 1), patch_size=2, num_couplings=2, vit_depth=1,
                    vit_width=16, vit_heads=2)
TC = jb.TrainConfig(dataset="digits", steps=7, batch_size=32, eval_examples=64)


def test_export_then_load_gives_the_same_model(tmp_path, monkeypatch):
    run = tmp_path / "run"
    model, optimizer = build_model_and_optimizer(TINY, TC)
    # move away from the identity a fresh Jet starts at, so the round trip is a real check
    params = nnx.state(model, nnx.Param)
    keys = iter(jax.random.split(jax.random.key(1), len(jax.tree.leaves(params))))
    nnx.update(model, jax.tree.map(lambda p: p + 0.05 * jax.random.normal(next(keys), p.shape), params))
    checkpoints.check_workdir(run, TINY, TC)
    checkpoints.save(checkpoints.manager(run, 1), 7, model, optimizer)
    (run / "metrics.jsonl").write_text(json.dumps({"step": 7, "train_bpd": 3.0, "images_per_s": 64.0}) + "\n")
    monkeypatch.setattr(shipped, "WEIGHTS", tmp_path / "weights")

    meta = export.export(run, "digits", eval_examples=64)
    assert shipped.available() == ("digits",)
    assert meta["steps"] == 7 and meta["train_seconds"] == 3.5 and meta["eval"]["examples"] == 64
    assert meta["npz_bytes"] == (tmp_path / "weights" / "digits.npz").stat().st_size
    loaded = jb.pretrained("digits")
    images = jb.load_dataset("digits", "test")[:32]
    bpd = lambda m: _eval_bpd(m, images, jax.random.key(0), 17)     # compiled once
    np.testing.assert_array_equal(bpd(model), bpd(loaded))
    assert shipped.evaluate_shipped("digits", loaded) == meta["test_bpd"]
    assert json.loads((tmp_path / "weights" / "digits.json").read_text())["test_bpd"] == meta["test_bpd"]

    # a file that does not fit its config fails loudly, naming the array
    with np.load(tmp_path / "weights" / "digits.npz") as f:
        arrays = dict(f)
    key = next(k for k in arrays if k.endswith("kernel"))
    np.savez(tmp_path / "weights" / "digits.npz", **{**arrays, key: arrays[key][..., :1]})
    with pytest.raises(ValueError, match=f"array {key} is"):
        jb.pretrained("digits")
    np.savez(tmp_path / "weights" / "digits.npz", **arrays)
    with pytest.raises(ValueError, match="the config needs|do not match its config"):
        jb.pretrained("digits", num_couplings=4)          # a change that needs other arrays


def test_unknown_name_lists_the_shipped_ones():
    with pytest.raises(ValueError, match=r"no shipped model called 'mnist'; available: \["):
        jb.pretrained("mnist")
    with pytest.raises(ValueError, match="name must be one of"):
        export.export("runs/none", "mnist")


def test_the_required_models_are_shipped_and_each_has_a_recipe():
    assert set(shipped.available()) == set(export.TRAINING_COMMANDS) == {
        "digits", "patches", "digits_conditional", "tarflow_digits"}


@pytest.mark.parametrize("name", shipped.available())
def test_shipped_model_reproduces_its_documented_bpd(name):
    meta = shipped.info(name)
    assert abs(shipped.evaluate_shipped(name) - meta["test_bpd"]) < 0.01
    if "unseen" in meta:                  # patches: photos it never saw, measured the same way
        assert abs(shipped.evaluate_shipped(name, split="unseen") - meta["unseen"]["test_bpd"]) < 0.01
    assert meta["npz_bytes"] < 16 * 2**20
    if name == "digits":                  # clearly better than pixels alone
        assert meta["test_bpd"] < meta["independent_pixel_bpd"] - 0.1
    if name == "patches":                 # below the codecs, per file, on the same crops
        per_file = lambda record, codec: next(
            row["per_file_bpd"] for row in record["codecs"] if row["name"] == codec)
        assert meta["test_bpd"] < per_file(meta, "webp")
        assert meta["unseen"]["test_bpd"] < per_file(meta["unseen"], "png")
    assert meta["test_bpd"] < meta["independent_pixel_bpd"] + 0.5       # a trained model


def test_cli_samples_a_shipped_model_without_training(tmp_path, capsys):
    png = tmp_path / "grid.png"
    cli.main(["sample", "--pretrained", "digits", "--n", "4", "--png", str(png)])
    assert png.stat().st_size > 100 and "wrote 4 samples" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["sample", "--pretrained", "digits", "--out", str(tmp_path)])
    assert "give either --out RUN_DIR" in capsys.readouterr().err


def test_benchmarks_shipped_table_is_what_the_command_writes():
    """BENCHMARKS.md's shipped-model table is `jetbook ship table --markdown`'s
    output for the JSON files in the package, not a hand copy."""
    text = (pathlib.Path(__file__).parent.parent / "BENCHMARKS.md").read_text()
    assert export.render_table(text) == text
    with pytest.raises(ValueError, match="no <!-- shipped-table --> .* block"):
        export.render_table("# no block here\n")
