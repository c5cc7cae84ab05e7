"""The paper registry (jetbook.experiments.paper): every table, section and figure a notebook
cites is one the registry holds, the lookups refuse what it lacks, its findings agree with its
own tables, and the presets that claim to be the paper's configurations match Table 3."""
import pathlib
import re

import pytest

from jetbook.experiments import paper, plan
from jetbook.training import presets
from jetbook.training.config import TrainConfig

NOTEBOOKS = sorted((pathlib.Path(__file__).parents[2] / "notebooks").glob("*.py"))
_NUMBERS = r"(\d+[a-z]?(?:(?:\s*,\s*|\s+and\s+|\s+to\s+)\d+[a-z]?)*)"
_LISTS = {   # "Tables 8 and 9": each number is one citation
    re.compile(r"\bTables?\s+" + _NUMBERS): "Table {}",
    re.compile(r"\bFigures?\s+" + _NUMBERS): "Figure {}",
}
_SECTIONS = (re.compile(r"§\s?((?:\d+|[A-Z])(?:\.\d+)*)"),
             re.compile(r"\b(?:[Ss]ections?|Sec\.)\s+((?:\d+|[A-Z])(?:\.\d+)*)"),
             re.compile(r"\bAppendix\s+([A-Z](?:\.\d+)*)"))


def citations(text: str) -> set[str]:
    """Every "Table 2a", "Tables 8 and 9", "Figure 2b", "§3.2.1", "Sec. 3.1", "section 3.2",
    "Appendix A.2" in `text`, each as the registry names it ("Table 8", "§A.2", ...)."""
    found = {name.format(number) for pattern, name in _LISTS.items()
             for match in pattern.finditer(text) for number in re.findall(r"\d+[a-z]?", match.group(1))}
    return found | {f"§{match.group(1)}" for pattern in _SECTIONS for match in pattern.finditer(text)}


def unknown_citations(text: str) -> list[str]:
    known = set(paper.TABLES) | set(paper.SECTIONS) | set(paper.FIGURES)
    return sorted(citations(text) - known)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_every_table_section_and_figure_a_notebook_cites_is_in_the_registry(notebook):
    assert unknown_citations(notebook.read_text()) == []


def test_the_citation_check_rejects_what_the_registry_lacks():
    """A plausible slip: Table 11 (the paper has ten), §3.2.7 (§3.2 has six parts), Table 2
    (only its parts 2a and 2b exist) and Figure 6 are flagged; real citations are not."""
    wrong = "as Table 11 shows (§3.2.7); Table 2 and Figure 6 agree"
    assert unknown_citations(wrong) == ["Figure 6", "Table 11", "Table 2", "§3.2.7"]
    right = ("Tables 8 and 9, Table 1a, Table 10, Figure 2b, §3.2.1, Sec. 3.1, section 3.2, "
             "Section 2.4, Appendix A.2, §A.1")
    assert citations(right) == {"Table 8", "Table 9", "Table 1a", "Table 10", "Figure 2b",
                                "§3.2.1", "§3.1", "§3.2", "§2.4", "§A.2", "§A.1"}
    assert unknown_citations(right) == []


def test_lookups_reject_an_unknown_key():
    with pytest.raises(ValueError, match="no table 'Table 11'"):
        paper.table("Table 11")
    with pytest.raises(ValueError, match="no finding 'multiscale_helps'"):
        paper.finding("multiscale_helps")
    with pytest.raises(ValueError, match="no section"):
        paper.section("§3.2.7")
    with pytest.raises(ValueError, match="no row 'Glow'"):
        paper.table("Table 1a").value("Glow", "NLL")
    with pytest.raises(ValueError, match="no column"):
        paper.table("Table 2a").value("4:1", "gather")
    with pytest.raises(ValueError, match="2 values for 1 columns"):
        paper.Table("Table X", "§3", "", ("NLL",), {"Jet": (3.1, 3.2)})


def test_where_names_only_what_the_registry_holds():
    for f in paper.FINDINGS.values():
        assert unknown_citations(f.where) == [] and citations(f.where), f.key
    for t in paper.TABLES.values():
        assert t.where in paper.SECTIONS, t.name


def test_table_1_and_its_parts_agree():
    whole = paper.table("Table 1")
    for part, column in zip("abc", whole.columns):
        for row, (value,) in paper.table(f"Table 1{part}").rows.items():
            assert whole.value(row, column) == value
    assert paper.table("Table 1a").value("Jet (I21k)", "NLL") == 3.580      # not §3.1's swapped 3.86
    assert "Jet" not in paper.table("Table 1c").rows                       # CIFAR-10: fine-tuned only


def test_findings_agree_with_the_tables():
    t10, t2a, t2b = paper.table("Table 10"), paper.table("Table 2a"), paper.table("Table 2b")
    assert [v[-1] for v in t10.rows.values()][:-1] == [v[1] for v in t2a.rows.values()]  # pairing
    ratio = paper.finding("coupling_ratio").figures
    mixed = {row: t10.value(row, "mix of all") for row in t10.rows}
    assert min(mixed, key=mixed.get) == f"{ratio['best_m']}:1" and min(mixed.values()) == ratio["best_bpd"]
    assert all(mixed[f"{m}:1"] - ratio["best_bpd"] < 0.01 for m in ratio["close_m"])
    assert all(min(v[:3]) > v[3] for row, v in t10.rows.items() if row != "all channel")  # mixing wins
    assert max(t10.rows["all spatial"]) > t10.value("all channel", "mix of all") == ratio["all_channel_bpd"]
    assert dict(paper.finding("actnorm_dense").figures) == dict(zip(
        ("neither", "actnorm", "dense", "both"), (v for (v,) in t2b.rows.values())))
    masking = paper.finding("pairing_vs_masking").figures
    assert t2a.rows["all spatial"] == (masking["all_spatial_masking"], masking["all_spatial_pairing"])
    assert all(m >= p for m, p in t2a.rows.values())
    t4, versions = paper.table("Table 4"), paper.finding("downsampled_versions").figures
    assert t4.rows["Jet, no augmentation"] == (versions["jet_32"], versions["jet_64"])
    assert t4.rows["Jet (I21k), no augmentation"] == (versions["jet_i21k_32"], versions["jet_i21k_64"])
    assert versions["jet_64"] < paper.table("Table 1a").value("Jet", "NLL")     # easier version
    cnn = paper.finding("vit_vs_cnn").figures

    def best(name):
        return min(v for values in paper.table(name).rows.values() for v in values if v is not None)
    assert (best("Table 7"), best("Table 6")) == (cnn["best_cnn_bpd"], cnn["best_vit_bpd"])
    assert round(paper.table("Table 1c").value("Jet (I21k)", "NLL"), 2) == \
        paper.finding("fine_tuning").figures["cifar10_bpd"]
    depth = paper.finding("couplings_vs_depth").figures
    (deep_n, deep_d), (shallow_n, shallow_d) = depth["deep"], depth["shallow"]
    for name in ("Table 8", "Table 9"):
        t = paper.table(name)
        for width in (512, 768, 1024):
            assert t.value(deep_d, (deep_n, width)) < t.value(shallow_d, (shallow_n, width))


def test_the_paper_presets_are_table_3_and_the_recipe_is_section_3_1():
    t3 = paper.table("Table 3")
    for preset, row in {"imagenet32": "ImageNet-1k 32×32", "imagenet64": "ImageNet-1k 64×64",
                        "cifar10": "ImageNet-21k 32×32"}.items():
        c = presets.presets[preset]
        assert (c.num_couplings, c.vit_depth, c.vit_width, c.vit_heads) == t3.rows[row]
        assert c.num_tokens == paper.finding("setup").figures["tokens"]
        assert (c.patch_size, c.image_shape[0]) in ((2, 32), (4, 64))
    setting = paper.finding("ablation_setting").figures
    c = presets.presets["in64_ablation"]
    assert (c.num_couplings, c.vit_depth, c.vit_width) == (
        setting["couplings"], setting["vit_depth"], setting["vit_width"])
    recipe = paper.finding("recipe").figures
    for name in ("imagenet32", "imagenet64", "in64_ablation", "cifar10"):
        assert presets.get_preset(name).train.learning_rate == recipe["learning_rate"]
    defaults = TrainConfig()
    assert (defaults.weight_decay, defaults.b2) == (recipe["weight_decay"],
                                                    paper.finding("setup").figures["b2"])
    assert [p.epochs for p in plan.PAPER_PHASES["imagenet64"]] == [recipe["epochs_imagenet_1k"]]
    assert [p.epochs for p in plan.PAPER_PHASES["cifar10"]] == [
        recipe["epochs_imagenet_21k"], paper.finding("fine_tuning").figures["cifar10_epochs"]]


def first_markdown_cell(text: str) -> str:
    return text.split("# %% [markdown]", 1)[1].split("# %%", 1)[0]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_each_notebook_links_the_paper_once_at_the_top(notebook):
    text = notebook.read_text()
    assert paper.ARXIV in first_markdown_cell(text) and text.count(paper.ARXIV) == 1
    if notebook.name.startswith("09_"):
        assert paper.TARFLOW_ARXIV in first_markdown_cell(text)
