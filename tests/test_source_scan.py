"""What the templates and the code must never contain: assets from a CDN (the app works offline),
vendored files without a noted version, and words shown to people that skip Flask-Babel."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))
OWN_ASSETS = sorted((ROOT / "static" / "css").glob("*.css")) + sorted((ROOT / "static" / "js").glob("*.js"))

# Outbound links people click, written as literals in templates (help pages and the like); none
# today. Anything loaded by the page itself (script, style, font, image) never belongs here.
OUTBOUND_LINKS: set[str] = set()

URL_ATTRIBUTE = re.compile(r"""\b(src|href|action|srcset|poster|formaction|data)\s*=\s*["']?\s*((?:https?:)?//[^"'\s>]*)""",
                           re.IGNORECASE)
CSS_URL = re.compile(r"""(?:url\(\s*["']?|@import\s+["'])((?:https?:)?//[^"')\s]+)""", re.IGNORECASE)
JS_URL = re.compile(r"""["'`]((?:https?:)?//[^"'`\s]+)""")
VENDOR_REFERENCE = re.compile(r"""vendor/([A-Za-z0-9_.\-]+)-(\d+\.\d+\.\d+)/([^'"\s)]+)""")
TEXT_ATTRIBUTE = re.compile(r"""\b(aria-label|aria-description|title|alt|placeholder)\s*=\s*"([^"]*)\"""")


def test_the_scans_see_the_templates():
    assert len(TEMPLATES) > 50 and (ROOT / "templates" / "base.html") in TEMPLATES
    assert URL_ATTRIBUTE.search('<script src="https://cdn.example/x.js">')
    assert URL_ATTRIBUTE.search("<link href='//fonts.example/css'>")
    assert not URL_ATTRIBUTE.search('<a href="{{ brand.support_url }}">')
    assert CSS_URL.search("@font-face { src: url(https://fonts.example/a.woff2) }")


def test_no_template_loads_or_links_anything_from_another_site():
    found = []
    for path in TEMPLATES:
        for match in URL_ATTRIBUTE.finditer(path.read_text()):
            if match.group(2) not in OUTBOUND_LINKS:
                found.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    assert found == []


def test_our_own_css_and_js_load_nothing_from_another_site():
    found = []
    for path in OWN_ASSETS:
        text = path.read_text()
        pattern = CSS_URL if path.suffix == ".css" else JS_URL
        found += [f"{path.relative_to(ROOT)}: {m.group(1)}" for m in pattern.finditer(text)]
    assert found == []


def test_every_vendored_file_in_use_exists_and_its_version_is_noted():
    versions = (ROOT / "static" / "vendor" / "VERSIONS.md").read_text()
    noted = {(row[0].strip(), row[1].strip()): row[2] for row in
             (line.strip("|").split("|") for line in versions.splitlines() if line.startswith("| ") and "`" in line)}
    used = set()
    for path in [*TEMPLATES, *OWN_ASSETS]:
        used |= {m.groups() for m in VENDOR_REFERENCE.finditer(path.read_text())}
    assert {folder for folder, _, _ in used} >= {"htmx", "bootstrap"}
    for folder, version, file in sorted(used):
        asset = ROOT / "static" / "vendor" / f"{folder}-{version}" / file
        assert asset.is_file(), asset
        rows = [files for (package, v), files in noted.items() if v == version and f"`{folder}-{version}/{file}`" in files]
        assert rows, f"{folder}-{version}/{file} is not in static/vendor/VERSIONS.md"
        # The file itself says it is that version (its banner or its version field).
        assert version in asset.read_text(errors="replace")[:200_000], asset


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
