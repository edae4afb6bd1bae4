"""The README stays true: its commands and every setting the code reads."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_starts_with_the_two_commands():
    first_block = README.split("```")[1]
    assert "make run" in first_block and "make test" in first_block


def test_readme_documents_every_environment_variable():
    settings = (ROOT / "server" / "settings.py").read_text()
    names = set(re.findall(r"env\.\w+\(\s*\"([A-Z][A-Z0-9_]*)\"", settings))
    assert names, "no settings found: did the settings module move?"
    missing = sorted(name for name in names if f"`{name}`" not in README)
    assert missing == [], f"add these settings to README.md: {missing}"
