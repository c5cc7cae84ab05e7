import json
import pathlib

import jax
import pytest

import jetbook as jb
from jetbook import cli
from jetbook.experiments import ablate, studies


def run_ablate(argv):
    """`jetbook ablate ARGV`, returning the folder's records."""
    return cli.run(["ablate", *argv])

# A tiny base: one coupling of width 16 on digits, small batches, so a run compiles in seconds.
TINY_SETS = ["num_couplings=1", "vit_width=16", "scan_unroll=1", "batch_size=16",
             "microbatches=1", "eval_examples=16", "num_samples=1"]


@pytest.fixture
def tiny_study(monkeypatch):
    """Two settings that change only the sample grid's temperature: the runner is what is
    tested, and both settings then share every compiled function."""
    study = studies.Study("tiny", "none", "digits", lambda base: {
        "t 0.5": {"sample_temperature": 0.5}, "t 1.0": {"sample_temperature": 1.0}})
    monkeypatch.setitem(ablate.STUDIES, "tiny", study)
    return study


@pytest.fixture
def compile_cache():
    """`jetbook ablate` turns on JAX's persistent compilation cache; switch it back off afterwards."""
    from jax.experimental.compilation_cache import compilation_cache
    compilation_cache.reset_cache()          # so the folder the command picks is used
    yield
    jax.config.update("jax_compilation_cache_dir", None)
    compilation_cache.reset_cache()


def test_unknown_study_names_the_argument_and_lists_the_known_ones(capsys):
    with pytest.raises(SystemExit):
        cli.main(["ablate", "--study", "nope"])
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
    monkeypatch.setitem(ablate.STUDIES, "future", studies.Study(
        "future", "none", "digits", lambda base: {"on": {"future_field": True}}))
    with pytest.raises(ValueError, match=r"--study future, setting 'on'.*\['future_field'\].*"
                                         r"neither JetConfig nor TrainConfig"):
        ablate.plan("future", 1, 1)


@pytest.mark.parametrize("study", sorted(ablate.STUDIES))
def test_every_study_plans(study):
    """Every study builds and checks every setting's configs (FLOPs matched where asked)."""
    runs = ablate.plan(study, 2, 1)
    assert len(runs) == 2 * len({r.label for r in runs}) and len({r.label for r in runs}) >= 2


def test_depth_tradeoff_settings_have_matched_flops_and_a_constant_product():
    runs = ablate.plan("depth_tradeoff", 1, 10)
    assert len(runs) >= 3
    assert len({r.model.num_couplings * r.model.vit_depth for r in runs}) == 1
    flops = [r.flops for r in runs]
    assert max(flops) / min(flops) - 1 <= ablate.FLOPS_TOLERANCE


def test_multiscale_study_comes_first_and_matches_jets_flops():
    assert list(ablate.STUDIES)[0] == "multiscale"
    runs = {r.label: r for r in ablate.plan("multiscale", 1, 10)}
    jet, ms = runs["Jet"], runs["multiscale, 1 level"]
    assert jet.setting == {} and ms.model.multiscale_levels == 1
    assert [s.num_couplings for s in ms.model.stage_configs] == [13, 13]
    assert abs(ms.flops / jet.flops - 1) <= ablate.FLOPS_TOLERANCE


def test_depth_pairs_match_within_each_pair_and_go_four_deep():
    runs = ablate.plan("depth_pairs", 1, 10)
    assert [r.label for r in runs] == ["16 couplings x depth 1", "4 couplings x depth 4",
                                       "32 couplings x depth 1", "8 couplings x depth 4"]
    for shallow, deep in zip(runs[::2], runs[1::2]):
        assert (shallow.model.vit_depth, deep.model.vit_depth) == (1, 4)
        assert abs(deep.flops / shallow.flops - 1) <= ablate.FLOPS_TOLERANCE
    with pytest.raises(ValueError, match="depth_pairs: 16 x 1 and 4 x 4 differ by more"):
        # a width-2 ViT costs less than the couplings' projections and split products
        studies._depth_pairs(jb.presets["digits"].replace(vit_width=2, vit_heads=1, mlp_ratio=1))


def test_unmatched_flops_are_rejected(monkeypatch):
    monkeypatch.setitem(ablate.STUDIES, "unmatched", studies.Study(
        "unmatched", "none", "digits", lambda base: {"16": {}, "4": {"num_couplings": 4}},
        matched_flops=True))
    with pytest.raises(ValueError, match="setting '4'.*matched FLOPs"):
        ablate.plan("unmatched", 1, 1)


def test_coupling_ratio_covers_the_paper_grid():
    runs = ablate.plan("coupling_ratio", 1, 1)
    patterns = {(r.model.channel_per_spatial, r.model.spatial_kinds) for r in runs}
    assert len(patterns) == len(runs) == 9
    assert {r.model.coupling_kinds.count("channel") for r in runs} >= {0, 16}


def test_setting_filter_keeps_the_study_order_and_checks_every_setting():
    runs = ablate.plan("coupling_ratio", 2, 1, only=["4:1, mix", "all spatial, mix"])
    assert [(r.label, r.seed) for r in runs] == [("all spatial, mix", 0), ("4:1, mix", 0),
                                                 ("all spatial, mix", 1), ("4:1, mix", 1)]
    full = {r.label: r for r in ablate.plan("coupling_ratio", 1, 1)}
    assert all(r.model == full[r.label].model and r.flops == full[r.label].flops for r in runs)
    # a setting left out is still built and checked: a bad grid fails whatever is selected
    sets = ["image_shape=8,16,1", "patch_size=8", "spatial_kinds=checkerboard,cols"]
    with pytest.raises(ValueError, match=r"setting 'all spatial, mix'.*even number"):
        ablate.plan("coupling_ratio", 1, 1, sets, only=["all channel"])


@pytest.mark.parametrize("only, message", [
    (["4:1, mixed"], r"no setting\(s\) \['4:1, mixed'\]; choose from \['all spatial, mix'"),
    ([], "give at least one label"),
    ("4:1, mix", "labels one by one"),
])
def test_a_bad_setting_filter_names_the_known_labels(only, message):
    with pytest.raises(ValueError, match=message):
        ablate.plan("coupling_ratio", 1, 1, only=only)


def test_setting_filter_on_the_command_line(tmp_path, tiny_study, compile_cache, monkeypatch,
                                            capsys):
    from jetbook.training import loop
    seen = []

    def fake(model_config, train_config, workdir, **kwargs):   # records what would train
        seen.append(train_config.sample_temperature)
        pathlib.Path(workdir).mkdir(parents=True, exist_ok=True)
        (pathlib.Path(workdir) / "metrics.jsonl").write_text(json.dumps({"train_bpd": 3.0}) + "\n")
        return None, {"test_bpd": 3.0}
    monkeypatch.setattr(loop, "train_and_evaluate", fake)
    argv = ["--study", "tiny", "--seeds", "1", "--steps", "1", "--out", str(tmp_path),
            "--setting", "t 1.0"]
    records = run_ablate(argv)
    assert seen == [1.0] and [r["label"] for r in records] == ["t 1.0"]
    assert records[0]["command"] == "python -m jetbook.ablate " + " ".join(
        argv[:-1] + ["'t 1.0'"])
    assert "Runs: 1 of 2;" in (tmp_path / "summary.md").read_text()
    # the same folder takes the rest later: the filter is not pinned
    assert [r["label"] for r in run_ablate(argv[:-2])] == ["t 1.0", "t 0.5"] and seen == [1.0, 0.5]
    with pytest.raises(SystemExit):
        cli.main(["ablate", *argv[:-1], "t 2.0"])
    assert "no setting(s) ['t 2.0']" in capsys.readouterr().err


def test_a_folder_of_another_study_is_refused(tmp_path):
    (tmp_path / "runs.jsonl").write_text(json.dumps({"study": "coupling_ratio"}) + "\n")
    with pytest.raises(ValueError, match="--out .*'coupling_ratio', not 'pairing_masking'"):
        ablate.run_study("pairing_masking", 1, 1, tmp_path)
    marker = tmp_path / "other"
    marker.mkdir()
    (marker / "study.json").write_text(json.dumps({"study": "depth_tradeoff"}))
    with pytest.raises(ValueError, match="--out .*'depth_tradeoff'"):
        ablate.run_study("pairing_masking", 1, 1, marker)


def test_sweep_writes_records_and_summary_and_resumes_without_redoing(
        tmp_path, tiny_study, compile_cache, monkeypatch):
    calls = []
    train_run = ablate._train_run
    monkeypatch.setattr(ablate, "_train_run", lambda run, workdir: (
        calls.append(run.key), train_run(run, workdir))[1])
    out = tmp_path / "tiny"
    argv = lambda seeds: ["--study", "tiny", "--seeds", str(seeds), "--steps", "1", "--out",
                          str(out), *(arg for s in TINY_SETS for arg in ("--set", s))]
    first = run_ablate(argv(1))
    assert len(calls) == len(first) == 2
    # a sweep stopped after seed 0 resumes: seed 1 runs, seed 0 is not redone
    calls.clear()
    records = run_ablate(argv(2))
    assert records[:2] == first and sorted(calls) == sorted(
        ablate._key(r["setting"], 1) for r in first)
    for r in records:
        assert set(ablate.REQUIRED_KEYS) <= set(r), set(ablate.REQUIRED_KEYS) - set(r)
        assert r["study"] == "tiny" and r["steps"] == 1 and r["flops"] > 0
        assert 0 < r["test_bpd"] < 20 and r["machine"]["cpu_count"] >= 1
    assert records[-1]["command"] == "python -m jetbook.ablate " + " ".join(argv(2))
    assert {(r["label"], r["seed"]) for r in records} == {
        (label, seed) for label in ("t 0.5", "t 1.0") for seed in (0, 1)}
    summary = (out / "summary.md").read_text()
    assert "| t 0.5 |" in summary and "| t 1.0 |" in summary and "±" in summary
    assert (out / "summary.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in out.iterdir()) == [
        "runs", "runs.jsonl", "study.json", "summary.md", "summary.png"]
    calls.clear()
    assert len(run_ablate(argv(2))) == 4 and calls == []

    # the folder is pinned to its arguments
    with pytest.raises(ValueError, match="--out .*other arguments.*steps"):
        ablate.run_study("tiny", seeds=2, steps=3, out=out, sets=TINY_SETS)


def test_a_diverged_run_is_recorded_and_the_sweep_goes_on(tmp_path, tiny_study, monkeypatch):
    from jetbook.training import loop

    def diverge(model_config, train_config, workdir, **kwargs):
        raise loop.TrainingDiverged(f"loss became nan (t {train_config.sample_temperature})")
    monkeypatch.setattr(loop, "train_and_evaluate", diverge)
    records = ablate.run_study("tiny", seeds=2, steps=1, out=tmp_path)
    assert len(records) == 4 and all(r["test_bpd"] is None for r in records)
    assert "t 1.0" in records[-1]["diverged"]
    summary = (tmp_path / "summary.md").read_text()
    assert "| t 0.5 | diverged | diverged | 2 (2 diverged) |" in summary
    assert (tmp_path / "summary.png").exists()


def test_a_run_another_study_already_made_is_reused_not_trained_again(
        tmp_path, tiny_study, monkeypatch):
    from jetbook.training import loop
    seen = []

    def fake(model_config, train_config, workdir, **kwargs):
        seen.append((train_config.sample_temperature, train_config.steps, train_config.seed))
        pathlib.Path(workdir).mkdir(parents=True, exist_ok=True)
        (pathlib.Path(workdir) / "metrics.jsonl").write_text(json.dumps({"train_bpd": 3.0}) + "\n")
        return None, {"test_bpd": 3.0 + train_config.sample_temperature + train_config.seed}
    monkeypatch.setattr(loop, "train_and_evaluate", fake)
    monkeypatch.setitem(ablate.STUDIES, "tiny2", studies.Study("tiny2", "none", "digits", lambda b: {
        "half": {"sample_temperature": 0.5}, "t 0.7": {"sample_temperature": 0.7}}))
    ablate.run_study("tiny", 1, 1, tmp_path / "tiny")
    seen.clear()
    records = ablate.run_study("tiny2", 2, 1, tmp_path / "tiny2")
    # seed 0 of "half" is tiny's "t 0.5"; seed 1 of it was never run anywhere
    assert seen == [(0.7, 1, 0), (0.5, 1, 1), (0.7, 1, 1)]
    half = records[0]
    assert half["label"] == "half" and half["study"] == "tiny2" and half["test_bpd"] == 3.5
    assert half["reused_from"]["study"] == "tiny" and half["reused_from"]["label"] == "t 0.5"
    assert all("reused_from" not in r for r in records[1:])
    assert "(1 the same run as another study's" in (tmp_path / "tiny2" / "summary.md").read_text()
    # another step count is another run
    seen.clear()
    ablate.run_study("tiny2", 1, 2, tmp_path / "tiny2-2-steps")
    assert seen == [(0.5, 2, 0), (0.7, 2, 0)]
