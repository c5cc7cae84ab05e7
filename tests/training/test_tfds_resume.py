"""A TFDS run killed with SIGKILL and resumed sees the same batches, in the same order, as an
uninterrupted one: training reads TFDS by index, so batch `step` is a pure function of
(seed, step). Offline, on TFDS mock data."""
import json
import os
import signal
import subprocess
import sys
import textwrap

import tensorflow_datasets as tfds

import jetbook as jb
from jetbook.training import loop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CFG = jb.JetConfig(image_shape=(32, 32, 3), patch_size=4, num_couplings=2, vit_depth=1,
                   vit_width=16, vit_heads=2)
TC = jb.TrainConfig(dataset="cifar10", steps=6, batch_size=8, warmup_steps=1, log_every=1,
                    eval_every=6, checkpoint_every=2, eval_examples=16, num_samples=4)

KILLED_RUN = """
    import os, signal, sys
    import tensorflow_datasets as tfds
    from jetbook.training import loop
    from tests.training.test_tfds_resume import CFG, TC

    def kill_at_step_5(record):        # step 4 is checkpointed; step 5 is logged, then lost
        if record["step"] == 5:
            os.kill(os.getpid(), signal.SIGKILL)

    with tfds.testing.mock_data(num_examples=48):
        loop.train_and_evaluate(CFG, TC, sys.argv[1], callback=kill_at_step_5, progress=False)
"""


def _steps(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "images_per_s"} for line in lines]


def test_killed_and_resumed_tfds_run_equals_the_uninterrupted_one(tmp_path):
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(KILLED_RUN), str(killed)],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == -signal.SIGKILL, out.stderr[-3000:]
    assert [r["step"] for r in _steps(killed)] == [1, 2, 3, 4, 5]
    assert sorted(os.listdir(killed / "checkpoints")) == ["2", "4"]

    with tfds.testing.mock_data(num_examples=48):
        loop.train_and_evaluate(CFG, TC, tmp_path / "whole", progress=False)
        loop.train_and_evaluate(CFG, TC, killed, progress=False)          # resumes at step 4
    whole, resumed = _steps(tmp_path / "whole"), _steps(killed)
    assert [r["step"] for r in resumed] == [1, 2, 3, 4, 5, 6]
    assert resumed == whole                       # same losses at every step, same test bpd
    assert len({r["train_bpd"] for r in whole}) == 6
