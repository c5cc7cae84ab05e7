"""The project's home is written once, in pyproject's [project.urls]; every Colab, Binder and
Kaggle badge and every setup cell's install target must point at that repository, so moving it
is one edit (then fix what this test lists)."""
import pathlib
import re
import sys
import urllib.parse

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:                                                    # the test extra installs it on 3.10
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
REPO = r"([\w.-]+/[\w.-]+?)"
LINKS = {   # kind -> pattern: group 1 the owner/name, then the branch and a path in the repository
    "colab": re.compile(r"colab\.research\.google\.com/github/" + REPO + r"/blob/([\w.-]+)/([\w./%-]+)"),
    "binder": re.compile(r"mybinder\.org/v2/gh/" + REPO + r"/([\w.-]+)\?labpath=([\w./%-]+)"),
    "kaggle": re.compile(r"kaggle\.com/kernels/welcome\?src=https://github\.com/" + REPO
                         + r"/blob/([\w.-]+)/([\w./%-]+)"),
    "pip": re.compile(r"git\+https://github\.com/" + REPO + r"""(?:\.git)?(?=["'@\s)\\]|$)"""),
}
SETUP_CELL = ROOT / "jetbook" / "teaching" / "setup_cell.py"    # the setup cell's one source
SOURCES = sorted([ROOT / "README.md", ROOT / "INSTRUCTORS.md", SETUP_CELL,
                  *(ROOT / "notebooks" / "student").glob("*.ipynb"), *(ROOT / "notebooks").glob("*.py"),
                  *(ROOT / "notebooks").glob("*.ipynb"), *(ROOT / "binder").iterdir()])


def project_repo() -> str:
    """owner/name of the repository named by [project.urls] Homepage."""
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    match = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+)", urls["Homepage"])
    assert match, f"[project.urls] Homepage must be https://github.com/OWNER/NAME, got {urls['Homepage']!r}"
    return match.group(1)


def wrong_links(text: str, repo: str) -> list[str]:
    """Every badge or install link in `text` that names another repository, a branch other
    than main, or a file that is not in this checkout."""
    wrong = []
    for kind, pattern in LINKS.items():
        for match in pattern.finditer(text):
            if match.group(1) != repo:
                wrong.append(f"{kind} link to {match.group(1)}: {match.group(0)}")
            elif kind != "pip" and match.group(2) != "main":
                wrong.append(f"{kind} link to branch {match.group(2)}: {match.group(0)}")
            elif kind != "pip" and not (ROOT / urllib.parse.unquote(match.group(3))).is_file():
                wrong.append(f"{kind} link to a missing file: {match.group(0)}")
    return wrong


def test_homepage_is_a_github_repository():
    assert project_repo().count("/") == 1


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_badge_and_setup_cell_points_at_the_project(source):
    text = source.read_text()
    assert wrong_links(text, project_repo()) == []
    if source.parent.name == "notebooks":         # each notebook has badges and a setup cell
        assert all(LINKS[kind].search(text) for kind in ("colab", "kaggle", "pip")), \
            f"{source.name}: links not found"


def test_each_notebook_links_its_own_student_copy_and_installs_from_the_project():
    """The badges a learner follows open the student copy (notebooks/student/, no solutions)."""
    repo = project_repo()
    install = f'"jetbook @ git+https://github.com/{repo}"'      # the setup cell's default target
    from jetbook.teaching.setup_cell import CELL
    assert install in CELL, "setup_cell.CELL installs elsewhere"
    for source in sorted((ROOT / "notebooks").glob("*.py")):
        text = source.read_text()
        page = f"github/{repo}/blob/main/notebooks/student/{source.stem}.ipynb"
        own = {"Colab": f"colab.research.google.com/{page}",
               "Kaggle": f"kaggle.com/kernels/welcome?src=https://github.com/{page[len('github/'):]}"}
        for kind, link in own.items():
            assert link in text, f"{source.name}: no {kind} badge for its student copy ({link})"
        assert install in text, f"{source.name}: setup cell installs elsewhere"


def test_readme_has_colab_binder_and_kaggle_badges():
    text = (ROOT / "README.md").read_text()
    assert LINKS["colab"].search(text) and LINKS["binder"].search(text) and LINKS["kaggle"].search(text)


def test_wrong_links_catches_a_moved_or_broken_link():
    repo = "jetbook/jetbook"
    good = ("[![Open In Colab](x)](https://colab.research.google.com/github/jetbook/jetbook/blob/main/"
            "notebooks/01_change_of_variables.ipynb) mybinder.org/v2/gh/jetbook/jetbook/main?labpath="
            "notebooks%2F00_welcome.ipynb \"jetbook @ git+https://github.com/jetbook/jetbook\" "
            "https://kaggle.com/kernels/welcome?src=https://github.com/jetbook/jetbook/blob/main/"
            "notebooks/09_tarflow.ipynb")
    assert wrong_links(good, repo) == []
    assert len(wrong_links(good, "someone/jetbook")) == 4                 # all four kinds
    kaggle = "welcome?src=https://github.com/jetbook/jetbook/blob/main/notebooks/09_tarflow"
    for wrong in ("welcome?src=https://github.com/someone/jetbook/blob/main/notebooks/09_tarflow",
                  kaggle.replace("blob/main", "blob/dev"), kaggle.replace("09_tarflow", "09_tarlfow")):
        assert len(wrong_links(good.replace(kaggle, wrong), repo)) == 1, wrong   # a bad Kaggle link
    assert wrong_links(good.replace("blob/main", "blob/dev"), repo)       # another branch
    assert wrong_links(good.replace("01_change", "01_chnage"), repo)      # a file that is not there
