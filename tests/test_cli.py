import contextlib
import io
import json
import subprocess
import sys

import pytest

from jetbook import cli
from jetbook.fields import apply_overrides
from jetbook.flows.config import JetConfig
from jetbook.training.config import TrainConfig

TINY = ["--set", "num_couplings=5", "--set", "vit_width=16", "--set", "vit_heads=2",
        "--set", "eval_every=10", "--set", "log_every=5", "--set", "checkpoint_every=10"]


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "jetbook.cli", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(run folder, what training wrote to stderr, which is not a terminal here)."""
    out = tmp_path_factory.mktemp("cli") / "digits"
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        cli.main(["train", "--steps", "10", "--batch", "32", "--out", str(out)] + TINY)
    return out, stderr.getvalue()


@pytest.fixture(scope="module")
def run_dir(trained):
    return trained[0]


def test_progress_into_a_file_is_plain_lines(trained):
    """`jetbook train > log`: whole lines, no carriage-return updates, and the last one says
    where training ended."""
    log = trained[1]
    assert "\r" not in log
    lines = [line for line in log.splitlines() if line.startswith("train digits:")]
    assert lines and lines[-1].startswith("train digits: 10/10 (100%)"), log


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
    (["train", "--preset", "mnist"], "unknown preset 'mnist'"),
    (["train", "--set", "vit_widht=8"], "--set vit_widht: unknown field"),
    (["train", "--set", "vit_width=wide"], "--set vit_width=wide: expected an int"),
    (["train", "--set", "novalue"], "--set expects field=value"),
    (["train", "--set", "vit_heads=3"], "vit_width=64 must be divisible by vit_heads=3"),
    (["train", "--set", "remat=maybe"], "--set remat=maybe: expected true or false"),
    (["train", "--set", "image_shape=8,x,1"], "expected a comma-separated list of int"),
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
    cfg = apply_overrides(JetConfig(), ["image_shape=16,16,3", "remat=true", "scale_max=1.5",
                                        "kinds=None", "spatial_kinds=rows,cols-inv"])
    assert cfg.image_shape == (16, 16, 3) and cfg.remat is True and cfg.scale_max == 1.5
    assert cfg.kinds is None and cfg.spatial_kinds == ("rows", "cols-inv")
    cfg = apply_overrides(JetConfig(), ["kinds=channel,rows", "num_couplings=2"])
    assert cfg.kinds == ("channel", "rows")
    tc = apply_overrides(TrainConfig(), ["data_dir=/data", "learning_rate=3e-4"])
    assert tc.data_dir == "/data" and tc.learning_rate == 3e-4
    assert apply_overrides(tc, ["data_dir=None"]).data_dir is None


def test_main_with_an_empty_list_ignores_sys_argv(monkeypatch):
    seen = []
    monkeypatch.setattr(cli, "cmd_train", lambda args: seen.append(args))
    monkeypatch.setattr(sys, "argv", ["jetbook", "eval", "--out", "/somewhere"])
    assert cli.main([]) == 0
    assert seen and seen[0].command == "train" and seen[0].preset == "digits"


def test_each_command_keeps_its_own_defaults_of_the_shared_options():
    """The shared options are declared once, but a command's default must not leak into
    another's (a bench batch of 128 would change a resumed training run's config)."""
    train, bench = cli.parse(["train"]), cli.parse(["bench"])
    assert (train.batch, train.steps, train.preset, train.set) == (None, None, "digits", [])
    assert (bench.batch, bench.steps) == (128, 10)
    assert cli.parse(["ablate", "--study", "x"]).steps == 200
    assert cli.parse(["compare"]).steps == 1200


@pytest.mark.parametrize("command", ["train", "eval", "sample", "bench", "plan", "ablate",
                                     "compare", "ship", "course"])
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main([command, "--help"])
    assert exit.value.code == 0 and f"jetbook {command}" in capsys.readouterr().out


def test_the_first_waves_python_m_commands_still_run():
    """`python -m jetbook.bench` (and .plan, .ablate) are `jetbook bench` (...)."""
    for name in ("bench", "plan", "ablate"):
        out = subprocess.run([sys.executable, "-m", f"jetbook.{name}", "--help"],
                             capture_output=True, text=True)
        assert out.returncode == 0 and f"jetbook {name}" in out.stdout, out.stderr
    out = subprocess.run([sys.executable, "-m", "jetbook.plan", "--preset", "nope", "--devices",
                          "1", "--hbm-gib", "1"], capture_output=True, text=True)
    assert out.returncode == 2 and "unknown preset 'nope'" in out.stderr


def test_course_release_names_bad_input_then_the_extra_it_needs(tmp_path, monkeypatch, capsys):
    """A missing notebooks folder is named first; without otter-grader the command says which
    extra to install (the release itself runs in .ci/grade_course.py, where otter is)."""
    import nbformat
    with pytest.raises(SystemExit) as bad:
        cli.main(["course", "release", str(tmp_path / "out"), "--notebooks", str(tmp_path / "none")])
    assert bad.value.code == 2 and "notebooks must be a folder" in capsys.readouterr().err
    notebooks = tmp_path / "nb"
    notebooks.mkdir()
    nbformat.write(nbformat.v4.new_notebook(), notebooks / "a.ipynb")
    monkeypatch.setitem(sys.modules, "otter", None)
    with pytest.raises(SystemExit) as missing:
        cli.main(["course", "release", str(tmp_path / "out"), "--notebooks", str(notebooks)])
    assert missing.value.code == 2 and 'pip install "jetbook[course]"' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["course", "grade", str(tmp_path / "missing.ipynb")])
    assert "must be an .ipynb file" in capsys.readouterr().err
