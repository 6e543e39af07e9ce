"""What the templates and the code must never contain: words shown to people that skip Flask-Babel."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))

TEXT_ATTRIBUTE = re.compile(r"""\b(aria-label|aria-description|title|alt|placeholder)\s*=\s*"([^"]*)\"""")


def test_words_in_template_attributes_go_through_babel():
    """aria-label, title, alt and placeholder are read out or shown: no bare English in them."""
    found = []
    for path in TEMPLATES:
        for match in TEXT_ATTRIBUTE.finditer(path.read_text()):
            value = re.sub(r"{{.*?}}|{%.*?%}", "", match.group(2))
            if re.search(r"[A-Za-z]", value):
                found.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    assert found == []


SERVICE_ERRORS = {"ServiceError", "NotFound", "ValidationFailed", "Conflict", "Forbidden"}


def _literal(node) -> bool:
    return isinstance(node, (ast.Constant, ast.JoinedStr)) and not (isinstance(node, ast.Constant) and node.value is None)


def test_service_errors_carry_translatable_messages():
    """Their message is shown on the page (or in the API's JSON) in the person's language."""
    found = []
    for path in sorted((ROOT / "webapp").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                message = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "message"), None)
                if name in SERVICE_ERRORS and message is not None and _literal(message):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)[:90]}")
            if isinstance(node, ast.FunctionDef) and node.name == "__init__":
                found += [f"{path.relative_to(ROOT)}:{node.lineno}: default {ast.unparse(d)}"
                          for arg, d in zip(node.args.args[::-1], node.args.defaults[::-1])
                          if arg.arg == "message" and _literal(d)]
    assert found == []


@pytest.mark.parametrize("path", ["/accounts/999999", "/settings/templates/999999"])
def test_a_missing_record_is_not_found_in_the_users_language(client, db, path):
    from webapp.models import User

    from .helpers import login, make_agency
    _, user = make_agency(email="nora@agency.test")
    user.language = "fr"
    db.session.commit()
    login(client, "nora@agency.test")
    response = client.get(path)
    assert response.status_code == 404
    assert "Il n&#39;y a rien à cette adresse." in response.get_data(as_text=True)
    assert db.session.get(User, user.id).language == "fr"
