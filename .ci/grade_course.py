"""CI's course check: release the course, then grade every notebook twice with otter-grader
through `jetbook course grade`, two at a time: the solution notebook must score full marks and
the student copy less, and neither may stop on an error (a student copy runs top to bottom
with every exercise unanswered). Usage: python .ci/grade_course.py OUT"""
import concurrent.futures
import json
import pathlib
import subprocess
import sys
import time

out = pathlib.Path(sys.argv[1])
subprocess.run(["jetbook", "course", "release", str(out)], check=True, stdout=subprocess.DEVNULL)
listed = json.loads(subprocess.run(["jetbook", "course", "list"], check=True, capture_output=True,
                                   text=True).stdout)
notebooks = sorted({e["notebook"] for e in listed})
jobs = [(kind, path) for nb in notebooks
        for kind, path in (("solution", pathlib.Path("notebooks") / f"{nb}.ipynb"),
                           ("student", out / "student" / f"{nb}.ipynb"))]


def grade(job):
    kind, path = job
    start = time.time()
    run = subprocess.run(["jetbook", "course", "grade", str(path), "--autograder",
                          str(out / "autograder")], capture_output=True, text=True)
    if run.returncode != 0:
        return kind, path, None, f"exit {run.returncode}: {run.stderr[-2000:]}", time.time() - start
    return kind, path, json.loads(run.stdout.strip().splitlines()[-1]), None, time.time() - start


failures = []
with concurrent.futures.ThreadPoolExecutor(2) as pool:
    for kind, path, result, error, seconds in pool.map(grade, jobs):
        if error is None:
            score, top, errors = result["score"], result["max"], result["errors"]
            if errors:
                error = f"cells raised: {errors}"
            elif kind == "solution" and score != top:
                error = f"the solution scores {score} of {top}: {result['exercises']}"
            elif kind == "student" and not score < top:
                error = f"the student copy scores {score} of {top}: full marks without answers"
        print(f"{kind:8s} {path}: " + (f"{result['score']:g} of {result['max']:g}" if result else "-")
              + f" in {seconds:.0f} s" + (f"  FAILED: {error}" if error else ""), flush=True)
        if error:
            failures.append(path)
print(f"{len(jobs) - len(failures)} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
