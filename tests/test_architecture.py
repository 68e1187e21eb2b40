"""The house rules that code review alone would let slip."""

import ast
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent

# pimsite -> activations -> roles -> audit: an app may import only the apps to its right.
MAY_NOT_IMPORT = {
    "audit": {"roles", "activations", "pimsite"},
    "roles": {"activations", "pimsite"},
    "activations": {"pimsite"},
}


def _imported_top_level_packages(source: Path) -> set[str]:
    tree = ast.parse(source.read_text(), filename=str(source))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("app", sorted(MAY_NOT_IMPORT))
def test_dependencies_point_one_way(app):
    offenders = {
        str(source.relative_to(ROOT)): sorted(_imported_top_level_packages(source) & MAY_NOT_IMPORT[app])
        for source in (ROOT / app).rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_rule_catches_a_forbidden_import(tmp_path):
    # The checker itself must see imports inside functions, where they are easiest to slip in.
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("def f():\n    from roles.models import Role\n    import activations.services\n")
    assert _imported_top_level_packages(sneaky) == {"roles", "activations"}


def test_models_and_migrations_are_in_step(db):
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()
