"""The sandbox's allow-list root, built for real in fresh namespaces (root with ``unshare``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from course_lib.autograde.autograde import probe_namespaces

ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {repo!r})
    from course_lib.autograde import isolation
    env, secret, job = sys.argv[1:4]
    root = os.path.join(job, "root")
    os.mkdir(root)
    isolation.build_root(root, [sys.prefix, env], [], 8, {{"lib/x.py": "X = 1"}}, "# jail")
    print("env:", open(os.path.join(env, "marker.txt")).read())
    print("secret visible:", os.path.exists(secret))
    with open("/tmp/scratch", "w") as fh:  # the private /tmp stays the student's to write
        fh.write("ok")
    print("tmp writable:", open("/tmp/scratch").read() == "ok")
    try:
        open(os.path.join(env, "new.txt"), "w")
        print("env writable: True")
    except OSError:
        print("env writable: False")
""")


@pytest.mark.skipif(not probe_namespaces(), reason="needs root and unshare (mount namespaces)")
def test_an_environment_under_tmp_is_bound_over_the_private_tmp(tmp_path_factory):
    """A checkout cloned under /tmp: its venv stays readable, nothing else of /tmp is seen."""
    base = tmp_path_factory.mktemp("iso")
    assert str(base).startswith("/tmp/"), base
    env, job = base / "venv", base / "job"
    env.mkdir()
    job.mkdir()
    (env / "marker.txt").write_text("the environment")
    secret = base / "solutions.txt"
    secret.write_text("answers")
    out = subprocess.run([shutil.which("unshare"), "--mount", "--pid", "--fork", "--mount-proc",
                          sys.executable, "-c", CHILD.format(repo=str(ROOT)), str(env),
                          str(secret), str(job)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "env: the environment" in out.stdout
    assert "secret visible: False" in out.stdout
    assert "env writable: False" in out.stdout
    assert "tmp writable: True" in out.stdout
