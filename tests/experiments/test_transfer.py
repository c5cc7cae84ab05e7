"""The laptop-scale transfer study: its records, its summary, and resuming it."""
import json

import pytest

from jetbook import cli, records
from jetbook.experiments import transfer


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("transfer")
    return out, cli.run(["transfer", "--seeds", "1", "--pretrain-steps", "3", "--steps", "3",
                         "--out", str(out)])


def test_each_arm_records_its_curve_machine_and_command(tiny_study):
    out, results = tiny_study
    assert [r["arm"] for r in results] == list(transfer.ARMS)
    finetuned, scratch = results
    assert finetuned["pretrain"]["dataset"] == "digits_0to4" and scratch["pretrain"] is None
    assert finetuned["learning_rate"] < scratch["learning_rate"]     # the light fine-tuning
    for r in results:
        assert r["dataset"] == "digits_5to9_few" and r["steps"] == 3
        assert r["curve"][-1]["step"] == 3 and r["test_bpd"] == r["curve"][-1]["test_bpd"]
        assert {"platform", "device", "jax"} <= set(r["machine"]) and r["commit"]
        assert r["command"] == (f"jetbook transfer --seeds 1 --pretrain-steps 3 --out {out} "
                                "--steps 3")
    config = json.loads((out / "runs" / "seed0" / "finetune" / "config.json").read_text())
    assert config["train"]["init_from"] == str(out / "runs" / "seed0" / "pretrain")
    assert (out / "summary.png").stat().st_size > 1000
    table = (out / "summary.md").read_text()
    assert "| pretrained, then fine-tuned | 1 |" in table and "| from scratch | 1 |" in table


def test_a_finished_study_resumes_without_training_again(tiny_study, monkeypatch):
    out, results = tiny_study
    from jetbook.training import loop
    monkeypatch.setattr(loop, "train_and_evaluate", lambda *a, **k: pytest.fail("trained again"))
    again = transfer.run_transfer(1, 3, out, steps=3)
    assert again == records.read_jsonl(out / "runs.jsonl") == results


def test_bad_arguments_name_themselves(tmp_path):
    with pytest.raises(ValueError, match="seeds must be a positive int"):
        transfer.run_transfer(0, 3, tmp_path)
    with pytest.raises(ValueError, match="pretrain_steps must be a positive int"):
        transfer.run_transfer(1, 0, tmp_path)
