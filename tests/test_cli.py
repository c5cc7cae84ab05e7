import json
import subprocess
import sys

import pytest

from jetbook import cli
from jetbook.jet import JetConfig

TINY = ["--set", "num_couplings=5", "--set", "vit_width=16", "--set", "vit_heads=2",
        "--set", "eval_every=10", "--set", "log_every=5", "--set", "checkpoint_every=10"]


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "jetbook.cli", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "digits"
    cli.main(["train", "--steps", "10", "--batch", "32", "--out", str(out), "--no-progress"] + TINY)
    return out


def test_train_writes_everything_and_prints_baseline(run_dir, capsys):
    result = json.loads((run_dir / "result.json").read_text())
    assert result["steps"] == 10 and 2.3 < result["independent_pixel_bpd"] < 2.5
    assert (run_dir / "metrics.jsonl").exists() and (run_dir / "samples" / "step_0000010.png").exists()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model"]["vit_width"] == 16 and config["train"]["batch_size"] == 32


def test_eval_and_sample(run_dir, capsys):
    cli.main(["eval", "--out", str(run_dir), "--limit", "64"])
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["step"] == 10 and line["examples"] == 64 and 1.0 < line["bpd"] < 6.0
    png = run_dir / "s.png"
    cli.main(["sample", "--out", str(run_dir), "--n", "4", "--temperature", "0.5", "--png", str(png)])
    assert png.stat().st_size > 100


@pytest.mark.parametrize("args,message", [
    (["train", "--preset", "mnist"], "--preset 'mnist' is unknown"),
    (["train", "--set", "vit_widht=8"], "--set vit_widht: unknown field"),
    (["train", "--set", "vit_width=wide"], "--set vit_width=wide: expected a value of type int"),
    (["train", "--set", "novalue"], "--set expects field=value"),
    (["train", "--set", "vit_heads=3"], "vit_width=64 must be divisible by vit_heads=3"),
    (["eval", "--out", "/nonexistent/run"], "holds no jetbook run"),
    (["train", "--steps", "0"], "steps must be a positive int"),
])
def test_bad_flags_get_clear_errors(args, message):
    out = run_cli(*args)
    assert out.returncode == 2 and message in out.stderr, out.stderr


def test_out_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    out = run_cli("train", "--out", str(f), "--steps", "1")
    assert out.returncode == 2 and "is not a folder" in out.stderr


def test_overrides_parse_types():
    cfg = cli.apply_overrides(JetConfig(), ["image_shape=16,16,3", "remat=true", "scale_max=1.5",
                                            "kinds=None"])
    assert cfg.image_shape == (16, 16, 3) and cfg.remat is True and cfg.scale_max == 1.5
