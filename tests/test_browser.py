"""The smoke run's page, profiles included, opened in a real (headless) Chromium: every image
decodes, every local link and anchor resolves, the console stays free of errors; a
screenshot is saved beside the page. Skipped, with the reason, when Chromium is missing
(`make test` installs it with apt-get when run as root)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from browser import chromium, inspect_page, unresolved_links

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "configs" / "smoke.toml"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(chromium() is None, reason="chromium is not installed "
                                 "(`make test` installs it with apt-get when run as root)")]


def _harness(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def page(smoke_copy) -> Path:
    """What `make bench CONFIG=configs/smoke.toml` leaves: a run (a copy of the session's
    smoke run, conftest.py), then its named profiles."""
    run_dir = smoke_copy()
    _harness("profile", str(SMOKE), "--named", "--run", str(run_dir), "--no-progress")
    return run_dir / "index.html"


@pytest.fixture(scope="module")
def seen(page) -> dict:
    return inspect_page(page, page.parent / "screenshot.png", chromium())


def test_every_image_decodes(seen):
    assert len(seen["images"]) >= 5  # four plots and at least one profile picture
    broken = [image for image in seen["images"] if not image["complete"] or image["width"] <= 0]
    assert broken == []


def test_profile_pictures_are_on_the_page(seen):
    profile_images = [i for i in seen["images"] if i["src"].startswith("profiles/")]
    assert any("memory" in i["src"] for i in profile_images)
    assert any(".callgraph." in i["src"] or ".top." in i["src"] for i in profile_images)


def test_every_local_link_and_anchor_resolves(page, seen):
    assert any(link.startswith("#") for link in seen["links"])
    assert any(link.startswith("profiles/") for link in seen["links"])
    assert unresolved_links(page, seen["links"], seen["ids"]) == []


def test_the_console_has_no_errors(seen):
    assert seen["console_errors"] == []


def test_a_screenshot_is_saved_beside_the_page(page, seen):
    shot = page.parent / "screenshot.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    height, width = matplotlib.image.imread(shot).shape[:2]
    assert width >= 1200 and height >= seen["height"] * 0.9  # the whole page, not a viewport
