"""The public face: a cheap `import jetbook` that pulls in only what is used, and every public
name resolving (the layout's rules are tests/test_layout.py)."""
import subprocess
import sys

import jetbook as jb


def test_import_jetbook_is_lazy():
    code = ("import sys, jetbook as jb; heavy = [m for m in ('jax', 'flax', 'optax', 'orbax', "
            "'matplotlib', 'ipywidgets', 'sklearn', 'tensorflow') if m in sys.modules]; "
            "print(heavy); jb.Jet; print(sorted(m for m in ('orbax', 'matplotlib', 'ipywidgets', "
            "'sklearn', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, second = out.stdout.strip().splitlines()
    assert first == "[]"
    assert second == "[]"             # the model needs no checkpointing, plotting or data


def test_public_names_resolve():
    for name in jb.__all__:
        assert getattr(jb, name) is not None
    assert isinstance(jb.presets["digits"], jb.JetConfig)
    assert jb.toys is jb.teaching.toys and jb.exercises.check_latent_dims
    # the first waves' short names reach the modules that now hold them
    assert jb.splits is jb.flows.splits and jb.plan is jb.experiments.plan
    assert jb.train.train_step is jb.training.step.train_step
    assert jb.config.preset_configs is jb.training.presets.preset_configs
    assert jb.checks is jb.teaching.brute_force
    import jetbook.bench
    assert jetbook.bench is jb.experiments.bench      # `python -m jetbook.bench`'s name, imported


def test_fresh_run_folder_is_the_same_folder_emptied(tmp_path, monkeypatch):
    import tempfile
    import pytest
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folder = jb.fresh_run_folder("06_digits")
    assert folder == tmp_path / "jetbook_06_digits" and folder.is_dir()
    (folder / "checkpoints").mkdir()
    (folder / "metrics.jsonl").write_text("{}\n")
    again = jb.fresh_run_folder("06_digits")
    assert again == folder and list(again.iterdir()) == []      # a rerun starts afresh
    for bad in ("", "../x", "a b"):
        with pytest.raises(ValueError, match="name must be"):
            jb.fresh_run_folder(bad)
