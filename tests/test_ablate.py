import json

import pytest

from jetbook import ablate

# A tiny base: 2 couplings of width 16 on digits, small batches, so a run compiles in seconds.
TINY_SETS = ["num_couplings=2", "vit_width=16", "scan_unroll=1", "batch_size=16",
             "microbatches=1", "eval_examples=32", "num_samples=4"]


@pytest.fixture
def tiny_study(monkeypatch):
    study = ablate.Study("tiny", "none", "digits", lambda base: {
        "pairing": {"channel_per_spatial": 1, "coupling_mode": "pairing"},
        "masking": {"channel_per_spatial": 1, "coupling_mode": "masking"}}, ablate._has_spatial)
    monkeypatch.setitem(ablate.STUDIES, "tiny", study)
    return study


def test_unknown_study_names_the_argument_and_lists_the_known_ones(capsys):
    with pytest.raises(SystemExit):
        ablate.main(["--study", "nope"])
    err = capsys.readouterr().err
    assert "--study 'nope'" in err and "coupling_ratio" in err and "depth_tradeoff" in err


@pytest.mark.parametrize("seeds, steps, arg", [(0, 10, "--seeds"), (2, 0, "--steps"),
                                               (-1, 10, "--seeds")])
def test_seeds_and_steps_must_be_positive(seeds, steps, arg):
    with pytest.raises(ValueError, match=f"{arg} must be a positive int"):
        ablate.plan("coupling_ratio", seeds, steps)


def test_pairing_mode_with_an_all_channel_pattern_is_rejected():
    # one coupling: the study's 1:1 pattern then has no spatial coupling to pair or mask
    with pytest.raises(ValueError, match=r"setting '1:1, pairing'.*all channel"):
        ablate.plan("pairing_masking", 1, 1, ["num_couplings=1"])


def test_a_pattern_overridden_by_kinds_is_rejected():
    with pytest.raises(ValueError, match="kinds=.*pattern this study varies"):
        ablate.plan("coupling_ratio", 1, 1, ["num_couplings=2", "kinds=channel,checkerboard"])


def test_a_kind_the_grid_does_not_support_is_rejected_before_training():
    # a 1 x 2 patch grid takes checkerboards and columns but not rows: the mix setting fails
    sets = ["image_shape=8,16,1", "patch_size=8", "spatial_kinds=checkerboard,cols"]
    with pytest.raises(ValueError, match=r"setting 'all spatial, mix'.*even number of patch rows"):
        ablate.plan("coupling_ratio", 1, 1, sets)


def test_a_bad_base_override_names_set():
    with pytest.raises(ValueError, match="--set .*no_such_field"):
        ablate.plan("coupling_ratio", 1, 1, ["no_such_field=1"])


def test_a_study_needing_a_missing_field_says_which(monkeypatch):
    monkeypatch.setitem(ablate.STUDIES, "future", ablate.Study(
        "future", "none", "digits", lambda base: {"on": {"future_field": True}}))
    with pytest.raises(ValueError, match=r"--study future, setting 'on'.*\['future_field'\].*"
                                         r"neither JetConfig nor TrainConfig"):
        ablate.plan("future", 1, 1)


@pytest.mark.parametrize("study", sorted(ablate.STUDIES))
def test_every_study_plans_or_names_its_missing_fields(study):
    try:
        runs = ablate.plan(study, 2, 1)
    except ValueError as err:
        assert "neither JetConfig nor TrainConfig" in str(err)
    else:
        assert len(runs) == 2 * len({r.label for r in runs}) and len({r.label for r in runs}) >= 2


def test_depth_tradeoff_settings_have_matched_flops_and_a_constant_product():
    runs = ablate.plan("depth_tradeoff", 1, 10)
    assert len(runs) >= 3
    assert len({r.model.num_couplings * r.model.vit_depth for r in runs}) == 1
    flops = [r.flops for r in runs]
    assert max(flops) / min(flops) - 1 <= ablate.FLOPS_TOLERANCE


def test_unmatched_flops_are_rejected(monkeypatch):
    monkeypatch.setitem(ablate.STUDIES, "unmatched", ablate.Study(
        "unmatched", "none", "digits", lambda base: {"16": {}, "4": {"num_couplings": 4}},
        matched_flops=True))
    with pytest.raises(ValueError, match="setting '4'.*matched FLOPs"):
        ablate.plan("unmatched", 1, 1)


def test_coupling_ratio_covers_the_paper_grid():
    runs = ablate.plan("coupling_ratio", 1, 1)
    patterns = {(r.model.channel_per_spatial, r.model.spatial_kinds) for r in runs}
    assert len(patterns) == len(runs) == 9
    assert {r.model.coupling_kinds.count("channel") for r in runs} >= {0, 16}


def test_a_folder_of_another_study_is_refused(tmp_path):
    (tmp_path / "runs.jsonl").write_text(json.dumps({"study": "coupling_ratio"}) + "\n")
    with pytest.raises(ValueError, match="--out .*'coupling_ratio', not 'pairing_masking'"):
        ablate.run_study("pairing_masking", 1, 1, tmp_path)
    marker = tmp_path / "other"
    marker.mkdir()
    (marker / "study.json").write_text(json.dumps({"study": "depth_tradeoff"}))
    with pytest.raises(ValueError, match="--out .*'depth_tradeoff'"):
        ablate.run_study("pairing_masking", 1, 1, marker)


def test_sweep_writes_records_and_summary_then_resumes_without_redoing(tmp_path, tiny_study,
                                                                       monkeypatch):
    calls = []
    train_run = ablate._train_run
    monkeypatch.setattr(ablate, "_train_run", lambda run, workdir: (
        calls.append(run.key), train_run(run, workdir))[1])
    records = ablate.run_study("tiny", seeds=2, steps=3, out=tmp_path, sets=TINY_SETS)
    assert len(calls) == len(records) == 4
    for r in records:
        assert set(ablate.REQUIRED_KEYS) <= set(r), set(ablate.REQUIRED_KEYS) - set(r)
        assert r["study"] == "tiny" and r["steps"] == 3 and r["flops"] > 0
        assert 0 < r["test_bpd"] < 20 and r["machine"]["cpu_count"] >= 1
        assert r["command"].startswith("python -m jetbook.ablate --study tiny --seeds 2 --steps 3")
    assert {(r["label"], r["seed"]) for r in records} == {
        (label, seed) for label in ("pairing", "masking") for seed in (0, 1)}
    summary = (tmp_path / "summary.md").read_text()
    assert "| pairing |" in summary and "| masking |" in summary and "±" in summary
    assert (tmp_path / "summary.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob("*.orbax*")) and (tmp_path / "runs").is_dir()

    # finished runs are not redone; a run whose record was lost is redone from its checkpoint
    lines = (tmp_path / "runs.jsonl").read_text().splitlines()
    (tmp_path / "runs.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    calls.clear()
    again = ablate.run_study("tiny", seeds=2, steps=3, out=tmp_path, sets=TINY_SETS)
    assert calls == [ablate._key(records[-1]["setting"], records[-1]["seed"])]
    assert again[-1]["test_bpd"] == pytest.approx(records[-1]["test_bpd"], abs=1e-6)
    assert again[-1]["train_bpd"] == records[-1]["train_bpd"]
    calls.clear()
    ablate.run_study("tiny", seeds=2, steps=3, out=tmp_path, sets=TINY_SETS)
    assert calls == []

    # the folder is pinned to its arguments
    with pytest.raises(ValueError, match="--out .*other arguments.*steps"):
        ablate.run_study("tiny", seeds=2, steps=4, out=tmp_path, sets=TINY_SETS)
