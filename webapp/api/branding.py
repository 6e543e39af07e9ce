"""The API's white label (A9, W1, W2, W8): an account's custom domain and its DNS check, the account's own
branding and its reset, the agency's branding defaults, and the agency's templates for new accounts. Over the
same services as the dashboard (services/accounts/domains.py, services/branding.py, services/templates.py),
with the same permissions.

A logo is sent as base64 in the JSON body (the dashboard's file upload), checked as the dashboard checks it
(PNG, JPEG or SVG, 512 KB at most, an SVG rebuilt from an allowlist); it is read back the same way. Every body
is held to the API's body limit (413 above it)."""
from __future__ import annotations

import base64
import binascii
import re

from flask import jsonify
from flask_babel import gettext as _

from ..services import accounts, branding, serializers, templates
from ..services.errors import NotFound, ValidationFailed
from ..services.scope import MAX_ID
from .blueprint import bp
from .guard import permission_required
from .openapi import DATETIME, STRING, _delete, _get, _nullable, _obj, _patch, _post, _ref, _text
from .routes import actor, body, query, scope

TWINS = {
    "accounts.domain": "api.set_account_domain",
    "whitelabel.account": "api.update_account_branding",
    "whitelabel.reset": "api.reset_account_branding",
    "whitelabel.defaults": "api.update_branding_defaults",
    "whitelabel.templates_new": "api.create_template",
    "whitelabel.templates_edit": "api.update_template",
    "whitelabel.templates_delete": "api.delete_template",
}

_DATA_URL = re.compile(r"^data:[\w.+/-]+;base64,", re.IGNORECASE)


# ---- representations -------------------------------------------------------------------------------------

def _branding_json(row) -> dict | None:
    if row is None:
        return None
    values = {field: getattr(row, field) for field in branding.TEXT_FIELDS}
    return {**values, "logo_mime_type": row.logo_mime if row.logo else None,
            "updated_at": serializers._iso(row.updated_at)}


def _account_branding_json(account) -> dict:
    return {"account_id": account.id, "overridden": bool(account.branding_overridden),
            "branding": _branding_json(branding.of_account(account))}


def _defaults_json(agency_id: int) -> dict:
    last = branding.last_run(agency_id)
    return {"branding": _branding_json(branding.defaults_of(agency_id)),
            "add_templates": templates.adds_templates(agency_id),
            "language_picker": bool(getattr(branding.defaults_of(agency_id), "language_picker", False)),
            "last_run": serializers.operation(last, last.result if last.status == "succeeded" else None)
            if last is not None else None}


def _logo_json(row):
    if row is None or not row.logo:
        raise NotFound(_("There is no logo."))
    return jsonify({"mime_type": row.logo_mime, "data": base64.b64encode(row.logo).decode("ascii")})


def _domain_json(account) -> dict:
    return {"account_id": account.id, "domain": account.custom_domain,
            "verified": account.custom_domain_verified_at is not None,
            "verified_at": serializers._iso(account.custom_domain_verified_at),
            "cname_target": accounts.cname_target(account),
            "released": account.custom_domain_released}


def _template_json(row, *, html: bool = False) -> dict:
    out = {"id": row.id, "kind": row.kind, "name": row.name, "tags": row.tags,
           "source_template_id": row.source_template_id, "created_at": serializers._iso(row.created_at),
           "updated_at": serializers._iso(row.updated_at)}
    if html:
        out["html"] = row.html
    return out


# ---- parsing ---------------------------------------------------------------------------------------------

def _branding_input(row, data: dict) -> branding.BrandingInput:
    """The branding as the dashboard's form would post it: the fields sent, the others as they are now; the
    logo replaced (base64), removed (null) or kept (left out)."""
    values = {**branding.values_of(row), **{f: data[f] for f in branding.TEXT_FIELDS if f in data}}
    logo, remove = None, False
    if "logo" in data:
        if data["logo"] is None:
            remove = True
        else:
            logo = _decode_logo(data["logo"])
    return branding.BrandingInput(**values, logo=logo, remove_logo=remove)


def _decode_logo(text: str) -> bytes:
    try:
        data = base64.b64decode(re.sub(r"\s+", "", _DATA_URL.sub("", text)), validate=True)
    except (binascii.Error, ValueError):
        data = b""
    if not data:
        problem = _("Send the image file as base64.")
        raise ValidationFailed(problem, {"logo": problem})
    return data


def _template_input(row, data: dict) -> templates.TemplateInput:
    return templates.TemplateInput(**{f: data.get(f, getattr(row, f) if row is not None else "")
                                      for f in ("name", "tags", "html")})


# ---- A9: the custom domain -------------------------------------------------------------------------------

@bp.get("/accounts/<account_id>/domain")
@permission_required("view")
def get_account_domain(account_id):
    query("getAccountDomain")
    return jsonify(_domain_json(scope().account(account_id)))


@bp.post("/accounts/<account_id>/domain")
@permission_required("manage_accounts")
def set_account_domain(account_id):
    account = scope().account(account_id)
    data = body("setAccountDomain")
    accounts.set_domain(account, data["domain"], actor())
    return jsonify(_domain_json(account))


@bp.post("/accounts/<account_id>/domain/verify")
@permission_required("manage_accounts")
def verify_account_domain(account_id):
    account = scope().account(account_id)
    body("verifyAccountDomain")
    accounts.verify_domain(account, actor())
    return jsonify(_domain_json(account))


@bp.delete("/accounts/<account_id>/domain")
@permission_required("manage_accounts")
def remove_account_domain(account_id):
    query("removeAccountDomain")
    account = scope().account(account_id)
    accounts.set_domain(account, "", actor())
    return jsonify(_domain_json(account))


# ---- W2: one account's own branding ------------------------------------------------------------------------

@bp.get("/accounts/<account_id>/branding")
@permission_required("manage_accounts")
def get_account_branding(account_id):
    query("getAccountBranding")
    return jsonify(_account_branding_json(scope().account(account_id)))


@bp.patch("/accounts/<account_id>/branding")
@permission_required("manage_accounts")
def update_account_branding(account_id):
    account = scope().account(account_id)
    data = body("updateAccountBranding")
    branding.override(account, _branding_input(branding.of_account(account), data), actor())
    return jsonify(_account_branding_json(account))


@bp.post("/accounts/<account_id>/branding/reset")
@permission_required("manage_accounts")
def reset_account_branding(account_id):
    account = scope().account(account_id)
    body("resetAccountBranding")
    branding.reset(account, actor())
    return jsonify(_account_branding_json(account))


@bp.get("/accounts/<account_id>/branding/logo")
@permission_required("manage_accounts")
def get_account_branding_logo(account_id):
    query("getAccountBrandingLogo")
    return _logo_json(branding.of_account(scope().account(account_id)))


# ---- W1, W8: the agency's defaults -------------------------------------------------------------------------

@bp.get("/branding")
@permission_required("library")
def get_branding_defaults():
    query("getBrandingDefaults")
    return jsonify(_defaults_json(scope().agency_id))


@bp.patch("/branding")
@permission_required("library")
def update_branding_defaults():
    data = body("updateBrandingDefaults")
    agency_id = scope().agency_id
    branding.save_defaults(agency_id, _branding_input(branding.defaults_of(agency_id), data),
                           update_existing=data.get("update_existing", False),
                           add_templates=data.get("add_templates"), language_picker=data.get("language_picker"),
                           actor=actor())
    return jsonify(_defaults_json(agency_id))


@bp.get("/branding/logo")
@permission_required("library")
def get_branding_logo():
    query("getBrandingLogo")
    return _logo_json(branding.defaults_of(scope().agency_id))


# ---- W8: the agency's templates for new accounts ---------------------------------------------------------

@bp.get("/templates")
@permission_required("library")
def list_templates():
    query("listTemplates")
    return jsonify({"data": [_template_json(row) for row in templates.agency_templates(scope().agency_id)]})


@bp.get("/templates/<template_id>")
@permission_required("library")
def get_template(template_id):
    query("getTemplate")
    return jsonify(_template_json(templates.agency_template(scope().agency_id, template_id), html=True))


@bp.post("/templates")
@permission_required("library")
def create_template():
    data = body("createTemplate")
    row = templates.add_basic(scope().agency_id, _template_input(None, data), actor())
    return jsonify(_template_json(row, html=True)), 201


@bp.post("/templates/import")
@permission_required("library")
def import_template():
    data = body("importTemplate")
    row = templates.add_from_share_link(scope().agency_id, data["link"], actor(), name=data.get("name", ""))
    return jsonify(_template_json(row, html=True)), 201


@bp.post("/templates/copy")
@permission_required("library")
def copy_template():
    data = body("copyTemplate")
    row = templates.add_copy(scope().agency_id, data["account_id"], data["template_id"], actor())
    return jsonify(_template_json(row, html=True)), 201


@bp.patch("/templates/<template_id>")
@permission_required("library")
def update_template(template_id):
    row = templates.agency_template(scope().agency_id, template_id)
    data = body("updateTemplate")
    row = templates.edit_agency_template(scope().agency_id, row.id, _template_input(row, data), actor())
    return jsonify(_template_json(row, html=True))


@bp.delete("/templates/<template_id>")
@permission_required("library")
def delete_template(template_id):
    query("deleteTemplate")
    row = templates.agency_template(scope().agency_id, template_id)
    row_id = row.id
    templates.delete_agency_template(scope().agency_id, row_id, actor())
    return jsonify({"id": row_id, "deleted": True})


@bp.get("/accounts/<account_id>/templates")
@permission_required("library")
def list_account_templates(account_id):
    """The templates inside one of the agency's accounts: what POST /templates/copy copies from."""
    query("listAccountTemplates")
    account = scope().account(account_id)
    return jsonify({"data": [_template_json(row) for row in templates.account_templates(account)]})


# ---- the document ----------------------------------------------------------------------------------------

def _may_be_missing(op: dict) -> dict:
    """An operation about the agency itself that can find nothing to answer with (404)."""
    op["responses"]["404"] = {"description": "There is none.",
                              "content": {"application/json": {"schema": _ref("Error")}}}
    return op


def _no_id(op: dict) -> dict:
    """An operation of the helpers, about the agency itself rather than one thing by its id."""
    return {**op, "parameters": [p for p in op["parameters"] if p.get("name") != "id"]}


def spec(catalog, languages) -> dict:
    logo_bytes = branding.MAX_LOGO_BYTES
    text_fields = {
        "product_name": _text(80),
        "primary_color": {**_text(7), "description": "#rrggbb, such as #2454a6."},
        "accent_color": {**_text(7), "description": "#rrggbb, such as #0e7c66: buttons and links (darkened for "
                                                    "links where it would be too light to read)."},
        "support_email": _text(254), "support_url": {**_text(500), "description": "https://..."},
        "login_headline": _text(120),
        "login_text": {"type": "string", "maxLength": 1000},
    }
    # No maxLength on the logo and the HTML: their sizes are the services' checks (a 422 naming the field), and
    # the body limit (413) comes first for the larger ones.
    logo_in = {"type": ["string", "null"], "pattern": "^(data:[A-Za-z0-9.+/-]+;base64,)?[A-Za-z0-9+/=\\s]*$",
               "contentEncoding": "base64", "description": (
                   f"The logo file (PNG, JPEG or SVG, at most {logo_bytes // 1024} KB) in base64 (a data: URL is "
                   "accepted too); null removes the logo; left out, it is kept. An SVG is rebuilt from drawing "
                   "elements only. The whole body must fit the API's body limit (413 above it).")}
    stored = {**{f: STRING for f in ("product_name", "primary_color", "accent_color")},
              **{f: _nullable(STRING) for f in ("support_email", "support_url", "login_headline", "login_text")}}
    template = {"id": {"type": "integer"}, "kind": {"type": "string", "enum": ["designer", "basic", "copy"],
                                                    "description": "designer: imported from a share link; basic: "
                                                                   "pasted HTML; copy: from one of your accounts."},
                "name": STRING, "tags": {**STRING, "description": "Separated by commas."},
                "source_template_id": _nullable({"type": "integer"}), "created_at": DATETIME,
                "updated_at": {**_nullable(DATETIME), "description": "The last edit; null while as it was made."}}
    html = {"type": "string", "description": (
        f"At most {templates.MAX_HTML_CHARS:,} characters, within the API's body limit (413 above it). Sanitized "
        "when kept: no script, no event handler, no form, no style sheet.")}
    schemas = {
        "Branding": _obj({**stored, "logo_mime_type": {**_nullable(STRING), "description": "null: no logo."},
                          "updated_at": DATETIME}),
        "BrandingAccount": _obj({
            "account_id": {"type": "integer"},
            "overridden": {"type": "boolean", "description": "true: the account shows its own branding; false: it "
                                                             "follows your defaults."},
            "branding": {**_nullable(_ref("Branding")), "description": "What the account shows; null: none."}}),
        "BrandingChange": _obj({**text_fields, "logo": logo_in}, required=[], description=(
            "The fields to change; those left out keep their values. Checked as on the dashboard.")),
        "BrandingDefaults": _obj({
            "branding": _nullable(_ref("Branding")),
            "add_templates": {"type": "boolean", "description": "Whether accounts created from now on get a copy of "
                                                                "your templates."},
            "language_picker": {"type": "boolean", "description": "Whether your accounts' login pages let the "
                                                                  "client choose the language of its pages."},
            "last_run": {**_nullable(_ref("Operation")), "description": "The latest copy of the defaults into the "
                                                                        "existing accounts."}}),
        "BrandingDefaultsChange": _obj({
            **text_fields, "logo": logo_in,
            "update_existing": {"type": "boolean", "default": False, "description": (
                "Also copy the defaults (not the templates) into every existing account that has no branding of "
                "its own, in the background: follow last_run.")},
            "add_templates": {"type": "boolean", "description": "Left out: unchanged."},
            "language_picker": {"type": "boolean", "description": "Left out: unchanged."}}, required=[]),
        "BrandingLogo": _obj({"mime_type": {"type": "string", "enum": ["image/png", "image/jpeg", "image/svg+xml"]},
                              "data": {"type": "string", "contentEncoding": "base64"}}),
        "BrandingDomain": _obj({
            "account_id": {"type": "integer"},
            "domain": {**_nullable(STRING), "description": "null: none set."},
            "verified": {"type": "boolean", "description": "Only a verified domain serves the account."},
            "verified_at": _nullable(DATETIME),
            "cname_target": {"type": "string", "description": "Create a CNAME record from the domain to this host, "
                                                              "then verify."},
            "released": {**_nullable(STRING), "description": (
                "A domain this account was waiting to verify and lost because another account verified it.")}}),
        "BrandingDomainChange": _obj({"domain": {**_text(253, 1), "description": "A host name such as "
                                                                                "mail.example.com."}}),
        "BrandingTemplate": _obj(template),
        "BrandingTemplateDetail": _obj({**template, "html": STRING}),
        "BrandingTemplateList": _obj({"data": {"type": "array", "items": _ref("BrandingTemplate")}}),
        "BrandingTemplateNew": _obj({"name": _text(200, 1), "tags": _text(1000), "html": html},
                                    required=["name", "html"]),
        "BrandingTemplateChange": _obj({"name": _text(200, 1), "tags": _text(1000), "html": html}, required=[],
                                       description="The fields to change; those left out keep their values."),
        "BrandingTemplateImport": _obj({
            "link": {**_text(500, 1), "description": "A template share link (or its token)."},
            "name": {**_text(200), "description": "Optional: the shared template's name otherwise."}},
            required=["link"]),
        "BrandingTemplateCopy": _obj({
            "account_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID, "description": "One of your accounts."},
            "template_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID,
                            "description": "One of that account's templates (GET /accounts/{id}/templates)."}}),
        "BrandingTemplateDeleted": _obj({"id": {"type": "integer"}, "deleted": {"type": "boolean"}}),
    }
    domain = _ref("BrandingDomain")
    account_branding = _ref("BrandingAccount")
    detail = _ref("BrandingTemplateDetail")
    paths = {
        "/accounts/{id}/domain": {
            "get": _get("getAccountDomain", "The account's custom domain and the CNAME record it needs", domain,
                        by_id=True, tag="Domains"),
            "post": _post("setAccountDomain", "Set the account's custom domain", "BrandingDomainChange", 200,
                          domain, tag="Domains", description=(
                              "Unverified until /verify finds its CNAME record; the account keeps answering at its "
                              "platform address meanwhile.")),
            "delete": _delete("removeAccountDomain", "Remove the account's custom domain", domain, tag="Domains"),
        },
        "/accounts/{id}/domain/verify": {"post": _post(
            "verifyAccountDomain", "Check the domain's CNAME record by a DNS query", "Empty", 200, domain,
            body_required=False, tag="Domains", description=(
                "Verified when the CNAME points to cname_target: the account then answers at the domain. 409, with "
                "the reason, when no domain is set, the record is missing or points elsewhere, the DNS servers did "
                "not answer, or another account holds the domain."))},
        "/accounts/{id}/branding": {
            "get": _get("getAccountBranding", "The account's branding", account_branding, by_id=True,
                        tag="Branding"),
            "patch": _patch("updateAccountBranding", "Give the account its own branding", "BrandingChange",
                            account_branding, tag="Branding", description=(
                                "From now on it shows this instead of your defaults, until it is reset.")),
        },
        "/accounts/{id}/branding/reset": {"post": _post(
            "resetAccountBranding", "Back to your default branding", "Empty", 200, account_branding,
            body_required=False, tag="Branding")},
        "/accounts/{id}/branding/logo": {"get": _get(
            "getAccountBrandingLogo", "The account's logo, in base64", _ref("BrandingLogo"), by_id=True,
            tag="Branding", description="404 when it has none.")},
        "/branding": {
            "get": _get("getBrandingDefaults", "Your default branding for new accounts", _ref("BrandingDefaults"),
                        tag="Branding"),
            "patch": _no_id(_patch("updateBrandingDefaults", "Change your default branding",
                                   "BrandingDefaultsChange", _ref("BrandingDefaults"), tag="Branding",
                                   description="Accounts created from now on get it; with update_existing, the "
                                               "existing accounts that follow the defaults too.")),
        },
        "/branding/logo": {"get": _may_be_missing(_get(
            "getBrandingLogo", "Your default logo, in base64", _ref("BrandingLogo"), tag="Branding",
            description="404 when there is none."))},
        "/templates": {
            "get": _get("listTemplates", "Your templates for new accounts", _ref("BrandingTemplateList"),
                        tag="Templates"),
            "post": _post("createTemplate", "Add a template from its HTML", "BrandingTemplateNew", 201, detail,
                          by_id=False, tag="Templates",
                          description="Accounts created from now on get a copy (while add_templates is on)."),
        },
        "/templates/import": {"post": _post(
            "importTemplate", "Add the template behind a share link", "BrandingTemplateImport", 201, detail,
            by_id=False, tag="Templates", description="409 when it is already one of yours.")},
        "/templates/copy": {"post": _post(
            "copyTemplate", "Add a copy of a template of one of your accounts", "BrandingTemplateCopy", 201, detail,
            by_id=False, tag="Templates")},
        "/templates/{id}": {
            "get": _get("getTemplate", "One of your templates, with its HTML", detail, by_id=True, tag="Templates"),
            "patch": _patch("updateTemplate", "Edit a template", "BrandingTemplateChange", detail, tag="Templates",
                            description="Accounts created from now on get the new version; copies already made "
                                        "keep theirs."),
            "delete": _delete("deleteTemplate", "Delete a template", _ref("BrandingTemplateDeleted"),
                              tag="Templates", description="Accounts that have a copy keep it."),
        },
        "/accounts/{id}/templates": {"get": _get(
            "listAccountTemplates", "The templates inside one of your accounts", _ref("BrandingTemplateList"),
            by_id=True, tag="Templates", description="To choose one for /templates/copy.")},
    }
    return {"paths": paths, "schemas": schemas, "tags": ["Domains", "Branding", "Templates"]}
