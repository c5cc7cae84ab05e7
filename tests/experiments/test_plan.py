"""The planner's runtimes, its table and the hours to the paper's epochs: only runtimes that
exist today are offered, the committed table covers each of them, and the hours are plain
arithmetic on the records (checked against a case worked by hand)."""
import json
import os
import pathlib

import pytest

from jetbook.experiments import bench, plan
from jetbook.training.presets import get_preset

ROOT = pathlib.Path(__file__).resolve().parents[2]
TABLE = ROOT / "results" / "plan_table.jsonl"
TODAY = {"Colab CPU", "Colab T4", "Colab L4", "Colab A100 40 GB", "Colab H100 80 GB",
         "Colab TPU v5e-1", "Colab TPU v6e-1", "Kaggle TPU v5e-8"}


def test_only_runtimes_offered_today():
    assert set(plan.RUNTIMES) == TODAY
    for name, runtime in plan.RUNTIMES.items():
        assert runtime.name == name
        assert "v2" not in name and "v3" not in name          # Colab retired its v2-8 in 2025
        assert runtime.devices >= 1 and runtime.gib > 0 and runtime.peak_flops > 0
        assert runtime.dtype in ("float32", "bfloat16") and runtime.source
    assert (8, 8.0) not in plan.shapes()                      # the v2-8's 8 x 8 GiB
    assert [r.name for r in plan.RUNTIMES.values() if r.devices > 1] == ["Kaggle TPU v5e-8"]
    # bfloat16 matmul units: TPUs, L4, A100, H100; not the T4 (or a CPU)
    assert {r.name for r in plan.RUNTIMES.values() if r.dtype == "float32"} == {"Colab CPU", "Colab T4"}


def test_committed_table_covers_every_runtime_and_no_retired_one():
    rows = [json.loads(line) for line in TABLE.read_text().splitlines()]
    keys = [plan.row_key(row) for row in rows]
    assert len(keys) == len(set(keys))                        # one row per (preset, shape)
    assert {(d, g) for _, d, g in keys} == set(plan.shapes())  # no shape nobody offers
    assert {(p, d, g) for p in plan.PAPER_PRESETS for d, g in plan.shapes()} == set(keys)
    for row in rows:
        assert "v2-8" not in row["runtime"]
        assert row["fits"] == (row["total_bytes"] is not None
                               and row["total_bytes"] <= row["hbm_gib"] * 2 ** 30)


def test_training_hours_by_hand():
    # 10 epochs x 3,600 images x 1 TFLOP = 3.6e16 FLOPs; 2 devices x 1 TFLOP/s x 50 % = 1e12
    # FLOP/s; 3.6e4 s = 10 hours
    two = plan.Runtime("test", "nowhere", 2, 1.0, 1e12, "float32", "made up")
    assert plan.training_hours(1e12, 3600, 10, two, mfu=0.5) == pytest.approx(10.0)
    assert plan.training_hours(1e12, 3600, 10, two, mfu=0.25) == pytest.approx(20.0)
    with pytest.raises(ValueError, match="mfu"):
        plan.training_hours(1e12, 3600, 10, two, mfu=0)
    # ImageNet-1k, 200 epochs, at the default MFU on Kaggle's v5e-8: the formula, spelled out
    v5e8 = plan.RUNTIMES["Kaggle TPU v5e-8"]
    flops = bench.model_flops_per_step(get_preset("imagenet32").model, 1)
    expected = 200 * 1_281_167 * flops / (8 * 197e12 * 0.35) / 3600
    assert plan.MFU == 0.35
    assert plan.training_hours(flops, 1_281_167, 200, v5e8) == pytest.approx(expected)


def _row(preset, devices, gib, fits, parameters, fitting=None):
    row = {"preset": preset, "devices": devices, "hbm_gib": gib, "fits": fits,
           "settings": {"sharding": "replicated"}, "per_device_gib": 1.0,
           "parameters": parameters, "fitting": fitting}
    return row


def test_runtime_hours_take_the_largest_preset_that_fits():
    one = plan.Runtime("one", "here", 1, 16, 100e12, "bfloat16", "made up")
    none = plan.Runtime("none", "here", 1, 4, 100e12, "bfloat16", "made up")
    rows = [_row("imagenet32", 1, 16, True, 300),
            _row("imagenet64", 1, 16, False, None,
                 {"settings": {"sharding": "replicated", "remat": True}, "per_device_gib": 15.0,
                  "parameters": 1000}),
            _row("cifar10", 1, 16, False, None, None),              # does not fit at all
            _row("cifar10", 8, 16, True, 3000),                     # another shape
            _row("imagenet64", 1, 4, False, None, None)]
    by_name = {e["runtime"].name: e for e in plan.runtime_hours(rows, {"one": one, "none": none})}
    got = by_name["one"]
    assert got["preset"] == "imagenet64" and got["fit"]["per_device_gib"] == 15.0
    flops = bench.model_flops_per_step(get_preset("imagenet64").model, 1)
    (phase,) = got["phases"]
    assert phase["phase"].epochs == 200 and phase["phase"].images == 1_281_167
    assert phase["hours"] == pytest.approx(200 * 1_281_167 * flops / (100e12 * plan.MFU) / 3600)
    assert by_name["none"]["preset"] is None and by_name["none"]["phases"] == []


def test_paper_phases_cite_the_paper_and_claim_no_cifar10_from_scratch():
    assert set(plan.PAPER_PHASES) == set(plan.PAPER_PRESETS)
    for phases in plan.PAPER_PHASES.values():
        assert all(p.source.startswith("paper, Sec. ") for p in phases)
    assert [p.epochs for p in plan.PAPER_PHASES["imagenet32"]] == [200]
    pre, fine = plan.PAPER_PHASES["cifar10"]           # pre-trained on 21k, then fine-tuned
    assert (pre.epochs, pre.at_least, fine.epochs, fine.images) == (50, True, 100, 50_000)


def test_plan_table_reuses_rows_by_shape_and_dates_new_ones(tmp_path):
    """A stopped `--table` run resumes: rows already written are kept, and a row of the same
    (preset, devices, GiB) is not planned again, whatever runtime it was written for; new rows
    carry their date and machine. (Budgets far below the parameters' bytes: nothing compiles.)"""
    path = tmp_path / "table.jsonl"
    old = {"preset": "digits", "runtime": "an old name", "devices": 1, "hbm_gib": 1e-6}
    path.write_text(json.dumps(old) + "\n")
    runtimes = {n: plan.Runtime(n, "here", 1, g, 1e12, "float32", "made up")
                for n, g in (("same shape", 1e-6), ("new", 2e-6), ("new twin", 2e-6))}
    rows = plan.table(path, presets=("digits",), runtimes=runtimes)
    written = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == written and len(written) == 2 and written[0] == old
    new = written[1]
    assert new["runtime"] == "1 × 2e-06 GiB (new, new twin)"
    assert new["fits"] is False and new["hbm_gib"] == 2e-6 and new["fitting"] is None
    assert new["date"] and new["machine"]["cpu_count"] == os.cpu_count()
    assert plan.table(path, presets=("digits",), runtimes=runtimes) == written   # nothing new


def test_notebook_07_names_the_retired_v2_8_once_at_most():
    """The v2-8 may appear as history (one sentence), never as a runtime to pick."""
    source = (ROOT / "notebooks" / "07_jet_at_scale.py").read_text()
    assert source.count("v2-8") <= 1 and "TPU v2 " not in source
