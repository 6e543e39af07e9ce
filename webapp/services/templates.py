"""Campaign templates (W8, W9): the agency's set for new accounts, the templates inside a hosted
account, and share links that carry a template from one account to another.

Every piece of HTML that enters goes through `sanitize_html` first (nh3, an e-mail-safe allowlist)
and is stored sanitized; it is only ever shown inside a sandboxed iframe where no script runs.
Template text is data: it is never rendered as a Jinja template, so `{{7*7}}` stays `{{7*7}}`."""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

import nh3
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..models import Branding, EmailTemplate, HostedAccount, TemplateShareLink, utcnow
from . import audit, permissions
from .errors import Conflict, NotFound, ValidationFailed
from .scope import AgencyScope, parse_id

MAX_HTML_CHARS = 200_000
MAX_NAME = 120
MAX_TAGS = 500

# What an e-mail client renders: layout tables, text, links and images. No forms, no media, no
# frames, no scripts, no style sheets (inline styles only, filtered below).
ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "center", "cite", "code", "col", "colgroup", "dd", "del",
    "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "li", "ol",
    "p", "pre", "s", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "u", "ul",
}
# Dropped with everything inside them, not just unwrapped.
DROPPED_WITH_CONTENT = {"script", "style", "head", "title", "noscript", "template", "iframe", "object",
                        "embed", "svg", "math", "textarea", "select", "xmp", "noembed", "noframes"}
_COMMON = {"style", "align", "valign", "width", "height", "bgcolor", "dir", "lang", "title", "border"}
ALLOWED_ATTRIBUTES = {
    "*": _COMMON,
    "a": {"href", "name", "target"},
    "img": {"src", "alt"},
    "table": {"cellpadding", "cellspacing", "role", "summary"},
    "td": {"colspan", "rowspan", "nowrap"},
    "th": {"colspan", "rowspan", "nowrap", "scope"},
    "col": {"span"},
    "colgroup": {"span"},
    "font": {"color", "face", "size"},
    "ol": {"start", "type"},
    "ul": {"type"},
}
URL_SCHEMES = {"http", "https", "mailto", "tel", "cid"}
STYLE_PROPERTIES = {
    "color", "background-color", "font-family", "font-size", "font-weight", "font-style", "font-variant",
    "line-height", "text-align", "text-decoration", "text-transform", "text-indent", "letter-spacing",
    "word-spacing", "white-space", "word-break", "word-wrap", "overflow-wrap", "vertical-align", "direction",
    "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
    "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
    "border", "border-top", "border-right", "border-bottom", "border-left", "border-color", "border-style",
    "border-width", "border-radius", "border-collapse", "border-spacing",
    "width", "min-width", "max-width", "height", "min-height", "max-height", "display", "table-layout",
    "list-style-type", "opacity",
}
# Values no e-mail needs and old engines ran: CSS expressions, behaviours, fetched URLs, escapes.
_BAD_STYLE_VALUE = re.compile(r"expression|javascript|vbscript|behavior|-moz-binding|url\s*\(|@import|\\",
                              re.IGNORECASE)
_LENGTH_ATTRIBUTES = {"width", "height", "border", "cellpadding", "cellspacing", "colspan", "rowspan", "span",
                      "size", "start"}


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "style":
        kept = [d for d in value.split(";") if d.strip() and not _BAD_STYLE_VALUE.search(d)]
        return "; ".join(d.strip() for d in kept) or None
    if attribute in _LENGTH_ATTRIBUTES and not re.fullmatch(r"\s*\d{1,4}(%|px)?\s*", value):
        return None
    if attribute == "target":
        return "_blank" if value.strip().lower() == "_blank" else None
    if attribute in ("bgcolor", "color") and not re.fullmatch(r"#?[0-9A-Za-z]{1,20}", value.strip()):
        return None
    return value


def sanitize_html(html: str) -> str:
    """The HTML reduced to the e-mail-safe allowlist: no script, no event handler, no
    `javascript:` link, no form, no frame, no style sheet; inline styles filtered by property."""
    return nh3.clean(
        html, tags=ALLOWED_TAGS, clean_content_tags=DROPPED_WITH_CONTENT, attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_attribute_filter, url_schemes=URL_SCHEMES, filter_style_properties=STYLE_PROPERTIES,
        strip_comments=True, link_rel="noopener noreferrer", url_relative="deny",
    ).strip()


@dataclass
class TemplateInput:
    name: str
    tags: str = ""
    html: str = ""


def _normalize_tags(tags: str) -> str:
    seen: list[str] = []
    for tag in re.split(r"[,\n]", tags or ""):
        tag = " ".join(tag.split())[:40]
        if tag and tag.lower() not in (t.lower() for t in seen):
            seen.append(tag)
    return ", ".join(seen)


def _checked(data: TemplateInput, *, need_html: bool = True) -> tuple[str, str, str]:
    problems: dict[str, str] = {}
    name = " ".join((data.name or "").split())
    if not name:
        problems["name"] = str(_l("Give the template a name."))
    elif len(name) > MAX_NAME:
        problems["name"] = str(_l("The name is at most %(n)s characters.", n=MAX_NAME))
    tags = _normalize_tags(data.tags)
    if len(tags) > MAX_TAGS:
        problems["tags"] = str(_l("Tags take at most %(n)s characters in all.", n=MAX_TAGS))
    html = ""
    if need_html:
        raw = data.html or ""
        if len(raw) > MAX_HTML_CHARS:
            problems["html"] = str(_l("The HTML is too long (at most %(n)s characters).", n=f"{MAX_HTML_CHARS:,}"))
        else:
            html = sanitize_html(raw)
            if not html:
                problems["html"] = str(_l("Paste the template's HTML; nothing that can be shown is left."))
    if problems:
        raise ValidationFailed(str(_l("The template was not saved.")), problems)
    return name, tags, html


def _edit(row: EmailTemplate, data: TemplateInput) -> list[str]:
    """The checks of a new template, then the new values; returns the names of what changed."""
    name, tags, html = _checked(data)
    changed = [field for field, value in (("name", name), ("tags", tags), ("html", html))
               if getattr(row, field) != value]
    for field in changed:
        setattr(row, field, {"name": name, "tags": tags, "html": html}[field])
    if changed:
        row.updated_at = utcnow()
    return changed


# ---- the agency's templates for new accounts (W8) ---------------------------------------------

def adds_templates(agency_id: int | None) -> bool:
    """W8 "Add my templates": whether accounts created from now on get a copy of the agency's templates.
    On until the agency switches it off on Account default settings (as it was before the switch existed)."""
    if agency_id is None:
        return False
    on = db.session.scalar(sa.select(Branding.add_templates).where(Branding.agency_id == agency_id,
                                                                  Branding.account_id.is_(None)))
    return True if on is None else bool(on)


def agency_templates(agency_id: int) -> list[EmailTemplate]:
    return list(db.session.scalars(AgencyScope(agency_id).select(EmailTemplate)
                                   .where(EmailTemplate.account_id.is_(None)).order_by(EmailTemplate.id)))


def agency_template(agency_id: int, template_id) -> EmailTemplate:
    row = db.session.scalar(AgencyScope(agency_id).select(EmailTemplate).where(
        EmailTemplate.account_id.is_(None), EmailTemplate.id == parse_id(template_id)))
    if row is None:
        raise NotFound()
    return row


def add_basic(agency_id: int, data: TemplateInput, actor: audit.Actor) -> EmailTemplate:
    permissions.require(actor, "library")
    name, tags, html = _checked(data)
    row = EmailTemplate(agency_id=agency_id, kind="basic", name=name, tags=tags, html=html)
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "template_added", agency_id=agency_id, **{"template_id": row.id, "kind": "basic"})
    db.session.commit()
    return row


def add_from_share_link(agency_id: int, link: str, actor: audit.Actor, name: str = "") -> EmailTemplate:
    """W8 "designer" kind: the template behind a share link, as one of the agency's templates."""
    permissions.require(actor, "library")
    source = _shared_template(link)
    if db.session.scalar(AgencyScope(agency_id).select(EmailTemplate, EmailTemplate.id).where(
            EmailTemplate.account_id.is_(None), EmailTemplate.source_template_id == source.id)):
        raise Conflict(str(_l("This template is already one of yours.")),
                       {"link": str(_l("This template is already one of yours."))})
    row = EmailTemplate(agency_id=agency_id, kind="designer", name=_copy_name(name, source), tags=source.tags,
                        html=sanitize_html(source.html), source_template_id=source.id)
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "template_imported", agency_id=agency_id,
                 **{"template_id": row.id, "source_template_id": source.id})
    db.session.commit()
    return row


def account_for_copy(agency_id: int, name: str) -> HostedAccount | None:
    """W8 "copy" kind, first step: one of the agency's accounts, by its name."""
    name = (name or "").strip().lower()
    if not name or len(name) > 100:
        return None
    return db.session.scalar(AgencyScope(agency_id).accounts().where(HostedAccount.name == name))


def add_copy(agency_id: int, account_id, template_id, actor: audit.Actor) -> EmailTemplate:
    """W8 "copy" kind: a template from one of the agency's accounts, as one of its templates."""
    permissions.require(actor, "library")
    account = AgencyScope(agency_id).account(account_id)
    source = account_template(account, template_id)
    row = EmailTemplate(agency_id=agency_id, kind="copy", name=_copy_name("", source), tags=source.tags,
                        html=sanitize_html(source.html), source_template_id=source.id)
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "template_added", agency_id=agency_id, account_id=account.id,
                 **{"template_id": row.id, "kind": "copy", "source_template_id": source.id})
    db.session.commit()
    return row


def edit_agency_template(agency_id: int, template_id, data: TemplateInput, actor: audit.Actor) -> EmailTemplate:
    """One of the agency's templates, renamed, retagged or with new HTML (sanitized as when it was added).
    Accounts that already have a copy keep theirs; accounts created afterwards get the new version."""
    permissions.require(actor, "library")
    row = agency_template(agency_id, template_id)
    changed = _edit(row, data)
    if changed:
        audit.record(actor, "template_edited", agency_id=agency_id, **{"template_id": row.id, "changed": changed})
    db.session.commit()
    return row


def delete_agency_template(agency_id: int, template_id, actor: audit.Actor) -> None:
    permissions.require(actor, "library")
    row = agency_template(agency_id, template_id)
    _delete(row)
    audit.record(actor, "template_deleted", agency_id=agency_id, **{"template_id": row.id, "name": row.name})
    db.session.commit()


def _copy_name(name: str, source: EmailTemplate) -> str:
    name = " ".join((name or "").split())
    return (name or source.name)[:MAX_NAME]


def _delete(row: EmailTemplate) -> None:
    # Copies keep their content; they just no longer point at a template that is gone.
    db.session.execute(sa.update(EmailTemplate).where(EmailTemplate.source_template_id == row.id)
                       .values(source_template_id=None))
    db.session.execute(sa.delete(TemplateShareLink).where(TemplateShareLink.template_id == row.id))
    db.session.delete(row)


# ---- templates inside a hosted account (W9, the client's Templates page) ----------------------

def account_templates(account: HostedAccount) -> list[EmailTemplate]:
    return list(db.session.scalars(sa.select(EmailTemplate).where(EmailTemplate.account_id == account.id)
                                   .order_by(EmailTemplate.id)))


def account_template(account: HostedAccount, template_id) -> EmailTemplate:
    row = db.session.scalar(sa.select(EmailTemplate).where(EmailTemplate.account_id == account.id,
                                                           EmailTemplate.id == parse_id(template_id)))
    if row is None:
        raise NotFound()
    return row


def create_in_account(account: HostedAccount, data: TemplateInput, actor: audit.Actor) -> EmailTemplate:
    name, tags, html = _checked(data)
    row = EmailTemplate(account_id=account.id, kind="basic", name=name, tags=tags, html=html)
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "template_added", agency_id=account.agency_id, account_id=account.id,
                 **{"template_id": row.id, "kind": "basic"})
    db.session.commit()
    return row


def edit_in_account(account: HostedAccount, template_id, data: TemplateInput, actor: audit.Actor) -> EmailTemplate:
    """One of the account's templates, renamed, retagged or with new HTML (sanitized as when it was made).
    Copies imported elsewhere from a share link keep what they were given."""
    row = account_template(account, template_id)
    changed = _edit(row, data)
    if changed:
        audit.record(actor, "template_edited", agency_id=account.agency_id, account_id=account.id,
                     **{"template_id": row.id, "changed": changed})
    db.session.commit()
    return row


def delete_in_account(account: HostedAccount, template_id, actor: audit.Actor) -> None:
    row = account_template(account, template_id)
    _delete(row)
    audit.record(actor, "template_deleted", agency_id=account.agency_id, account_id=account.id,
                 **{"template_id": row.id, "name": row.name})
    db.session.commit()


def share(account: HostedAccount, template_id, actor: audit.Actor) -> tuple[TemplateShareLink, str]:
    """A new share link for one of the account's templates: (the link row, the token, shown once)."""
    template = account_template(account, template_id)
    token = secrets.token_urlsafe(24)  # 192 bits
    link = TemplateShareLink(template_id=template.id, token_hash=_hash(token))
    db.session.add(link)
    db.session.flush()
    audit.record(actor, "template_shared", agency_id=account.agency_id, account_id=account.id,
                 **{"template_id": template.id, "link_id": link.id})
    db.session.commit()
    return link, token


def share_links(template: EmailTemplate) -> list[TemplateShareLink]:
    return list(db.session.scalars(sa.select(TemplateShareLink).where(TemplateShareLink.template_id == template.id)
                                   .order_by(TemplateShareLink.id.desc())))


def revoke(account: HostedAccount, template_id, link_id, actor: audit.Actor) -> TemplateShareLink:
    template = account_template(account, template_id)
    link = db.session.scalar(sa.select(TemplateShareLink).where(TemplateShareLink.template_id == template.id,
                                                                TemplateShareLink.id == parse_id(link_id)))
    if link is None:
        raise NotFound()
    if link.revoked_at is None:
        link.revoked_at = utcnow()
        audit.record(actor, "template_share_revoked", agency_id=account.agency_id, account_id=account.id,
                     **{"template_id": template.id, "link_id": link.id})
        db.session.commit()
    return link


def import_into_account(account: HostedAccount, link: str, actor: audit.Actor) -> EmailTemplate:
    """W9 "Import template": the template behind a share link, copied into this account."""
    source = _shared_template(link)
    if source.account_id == account.id:
        raise Conflict(str(_l("This template is already in this account.")),
                       {"link": str(_l("This template is already in this account."))})
    if db.session.scalar(sa.select(EmailTemplate.id).where(EmailTemplate.account_id == account.id,
                                                           EmailTemplate.source_template_id == source.id)):
        raise Conflict(str(_l("This template was already imported into this account.")),
                       {"link": str(_l("This template was already imported into this account."))})
    row = EmailTemplate(account_id=account.id, kind="designer", name=source.name, tags=source.tags,
                        html=sanitize_html(source.html), source_template_id=source.id)
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "template_imported", agency_id=account.agency_id, account_id=account.id,
                 **{"template_id": row.id, "source_template_id": source.id})
    db.session.commit()
    return row


def shared_template(token: str) -> EmailTemplate | None:
    """The template a live share link points at, or None (unknown, revoked, template deleted)."""
    if not token or len(token) > 200:
        return None
    link = db.session.scalar(sa.select(TemplateShareLink).where(TemplateShareLink.token_hash == _hash(token)))
    if link is None or link.revoked_at is not None:
        return None
    return db.session.get(EmailTemplate, link.template_id)


def token_from_link(link: str) -> str:
    """A share link as pasted (the whole URL, or just its token) → the token."""
    text = (link or "").strip()
    if "/" in text:
        text = urlsplit(text).path.rstrip("/").rsplit("/", 1)[-1]
    return text if re.fullmatch(r"[A-Za-z0-9_-]{16,100}", text) else ""


def _shared_template(link: str) -> EmailTemplate:
    token = token_from_link(link)
    if not token:
        raise ValidationFailed(str(_l("Paste a template share link.")),
                               {"link": str(_l("This is not a template share link."))})
    link_row = db.session.scalar(sa.select(TemplateShareLink).where(TemplateShareLink.token_hash == _hash(token)))
    if link_row is None:
        raise ValidationFailed(str(_l("This share link does not exist.")),
                               {"link": str(_l("This share link does not exist."))})
    if link_row.revoked_at is not None:
        raise ValidationFailed(str(_l("This share link was revoked.")),
                               {"link": str(_l("This share link was revoked."))})
    source = db.session.get(EmailTemplate, link_row.template_id)
    if source is None:
        raise ValidationFailed(str(_l("The shared template no longer exists.")),
                               {"link": str(_l("The shared template no longer exists."))})
    return source


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
