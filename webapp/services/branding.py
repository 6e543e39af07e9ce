"""White label (W1, W2): the agency's default branding, applied to new accounts and, on request,
to the existing ones by a background operation; per-account overrides and their reset."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urlsplit

import defusedxml.ElementTree as DefusedET
import sqlalchemy as sa
from defusedxml import DefusedXmlException
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..models import Branding, HostedAccount
from . import audit, keys, operations, permissions
from .errors import ValidationFailed
from .provisioning import BRANDING_FIELDS
from .validation import HEX_COLOR, email_problem

MAX_LOGO_BYTES = 512 * 1024
COLOR_RE = HEX_COLOR
DEFAULT_PRIMARY = "#2454a6"
DEFAULT_ACCENT = "#0e7c66"
# W1 "colours": both are checked alike, and say which one is wrong.
COLOR_FIELDS = ("primary_color", "accent_color")
SVG_NS = "http://www.w3.org/2000/svg"
# Drawing elements and presentation attributes only: no script, no foreignObject, no links out,
# no event handlers, no style sheets that could fetch anything.
SVG_ELEMENTS = {"svg", "g", "path", "rect", "circle", "ellipse", "line", "polyline", "polygon", "text", "tspan",
                "defs", "lineargradient", "radialgradient", "stop", "title", "desc", "clippath"}
SVG_ATTRIBUTES = {"viewbox", "width", "height", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry", "d",
                  "points", "fill", "stroke", "stroke-width", "stroke-linecap", "stroke-linejoin", "opacity",
                  "fill-opacity", "stroke-opacity", "transform", "offset", "stop-color", "stop-opacity", "id",
                  "gradientunits", "gradienttransform", "font-family", "font-size", "font-weight", "text-anchor",
                  "clip-path", "fill-rule", "clip-rule", "preserveaspectratio", "version"}


@dataclass
class BrandingInput:
    product_name: str = ""
    primary_color: str = DEFAULT_PRIMARY
    accent_color: str = DEFAULT_ACCENT
    support_email: str = ""
    support_url: str = ""
    login_headline: str = ""
    login_text: str = ""
    logo: bytes | None = None  # new upload, if any
    remove_logo: bool = False


# The texts and colours of a branding, as a form or the API edits them (the logo apart).
TEXT_FIELDS = ("product_name", "primary_color", "accent_color", "support_email", "support_url", "login_headline",
               "login_text")


def values_of(row: Branding | None) -> dict[str, str]:
    """What an edit of a branding starts from: the row's texts and colours, the default colours where it has
    none (and with no row at all). A field left out of an edit keeps this value."""
    defaults = {"primary_color": DEFAULT_PRIMARY, "accent_color": DEFAULT_ACCENT}
    return {f: (getattr(row, f) if row is not None else None) or defaults.get(f, "") for f in TEXT_FIELDS}


# Deeper than any real logo; a file nested deeper is refused rather than walked.
MAX_SVG_DEPTH = 64


def sanitize_svg(data: bytes) -> bytes:
    """The SVG rebuilt from an allowlist of drawing elements and attributes; anything else goes. Parsed
    with defusedxml (no entity expansion, no external references) and walked without recursion."""
    unreadable = str(_l("This SVG file cannot be read."))
    try:
        root = DefusedET.fromstring(data)
    except (ET.ParseError, DefusedXmlException):
        raise ValidationFailed(unreadable, {"logo": unreadable}) from None

    def local(tag) -> str:
        return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""

    if local(root.tag) != "svg":
        raise ValidationFailed(str(_l("This is not an SVG image.")), {"logo": str(_l("This is not an SVG image."))})

    def copy(element) -> ET.Element:
        name = local(element.tag)
        out = ET.Element(f"{{{SVG_NS}}}{name}")
        for key, value in element.attrib.items():
            attr = local(key)
            if attr in SVG_ATTRIBUTES and "url(" not in value.lower().replace("url(#", "") \
                    and "javascript:" not in value.lower():
                out.set(attr if attr != "viewbox" else "viewBox", value)
        if name in ("text", "tspan", "title", "desc"):
            out.text = element.text
        return out

    clean_root = copy(root)
    stack = [(root, clean_root, 1)]
    while stack:
        source, target, depth = stack.pop()
        for child in source:
            if local(child.tag) not in SVG_ELEMENTS:
                continue
            if depth >= MAX_SVG_DEPTH:
                too_deep = str(_l("This SVG file is nested too deeply to be a logo."))
                raise ValidationFailed(too_deep, {"logo": too_deep})
            cleaned = copy(child)
            target.append(cleaned)
            stack.append((child, cleaned, depth + 1))
    ET.register_namespace("", SVG_NS)
    return ET.tostring(clean_root, encoding="utf-8")


def logo_type(data: bytes) -> str:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    head = data[:1024].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:4096].lower()):
        return "image/svg+xml"
    raise ValidationFailed(str(_l("The logo must be a PNG, JPEG or SVG image.")),
                           {"logo": str(_l("The logo must be a PNG, JPEG or SVG image."))})


def validate(data: BrandingInput) -> dict:
    """Checked and cleaned values for a Branding row; errors per field."""
    fields = {}
    values = {
        "product_name": (data.product_name or "").strip(),
        "primary_color": (data.primary_color or "").strip(),
        "accent_color": (data.accent_color or "").strip(),
        "support_email": (data.support_email or "").strip() or None,
        "support_url": (data.support_url or "").strip() or None,
        "login_headline": (data.login_headline or "").strip() or None,
        "login_text": (data.login_text or "").strip() or None,
    }
    if len(values["product_name"]) > 80:
        fields["product_name"] = str(_l("Use at most 80 characters."))
    for colour, example in zip(COLOR_FIELDS, (DEFAULT_PRIMARY, DEFAULT_ACCENT)):
        if not COLOR_RE.match(values[colour]):
            fields[colour] = str(_l("Use a colour such as %(example)s.", example=example))
    if values["support_email"] and email_problem(values["support_email"]):
        fields["support_email"] = str(_l("Enter a valid e-mail address."))
    if values["support_url"]:
        parts = urlsplit(values["support_url"])
        if parts.scheme not in ("http", "https") or not parts.netloc or len(values["support_url"]) > 500:
            fields["support_url"] = str(_l("Enter a web address starting with https://"))
    if values["login_headline"] and len(values["login_headline"]) > 120:
        fields["login_headline"] = str(_l("Use at most 120 characters."))
    if values["login_text"] and len(values["login_text"]) > 1000:
        fields["login_text"] = str(_l("Use at most 1,000 characters."))
    if data.logo:
        if len(data.logo) > MAX_LOGO_BYTES:
            fields["logo"] = str(_l("The logo must be 512 KB or smaller."))
        else:
            try:
                mime = logo_type(data.logo)
                values["logo"] = sanitize_svg(data.logo) if mime == "image/svg+xml" else data.logo
                values["logo_mime"] = mime
            except ValidationFailed as exc:
                fields.update(exc.fields)
    elif data.remove_logo:
        values["logo"], values["logo_mime"] = None, None
    if fields:
        raise ValidationFailed(str(_l("The branding was not saved; see the fields marked.")), fields)
    return values


# ---- W1 "colours" on the account's site: the accent and what stays readable with it --------------

PAGE_BACKGROUND = "#f6f7f9"  # the account site's page; its cards are white (lighter, so easier)
INK = "#1d2430"


def _luminance(colour: str) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    """The WCAG contrast ratio of two #rrggbb colours (1 to 21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def ink_on(colour: str) -> str:
    """White or dark text, whichever reads better on this colour (a button's text on the accent)."""
    return "#ffffff" if contrast("#ffffff", colour) >= contrast(INK, colour) else INK


def link_color(accent: str) -> str:
    """The accent as a text colour on the page: itself when it reads at 4.5:1 (WCAG AA), else the same
    hue darkened until it does; a light accent (a yellow) still brands the links without hiding them."""
    r, g, b = (int(accent[i:i + 2], 16) for i in (1, 3, 5))
    for step in range(0, 101, 5):
        keep = 1 - step / 100
        colour = "#{:02x}{:02x}{:02x}".format(round(r * keep), round(g * keep), round(b * keep))
        if contrast(colour, PAGE_BACKGROUND) >= 4.5:
            return colour
    return INK


def colours(brand) -> dict:
    """The CSS custom properties of a branding (a Branding row or a dict of its values): only valid
    colours, so a stored value that is not one (an old row) falls back to the site's own."""
    get = brand.get if isinstance(brand, dict) else (lambda key: getattr(brand, key, None))
    out = {}
    primary, accent = get("primary_color") or "", get("accent_color") or ""
    if COLOR_RE.match(primary):
        out["--brand"] = primary
    if COLOR_RE.match(accent):
        out.update({"--brand-accent": accent, "--brand-accent-ink": ink_on(accent),
                    "--brand-link": link_color(accent)})
    return out


def site_css(brand) -> str:
    """The account site's brand style sheet (its pages' policy allows no inline style)."""
    props = colours(brand) if brand is not None else {}
    if not props:
        return ""
    return ":root { " + " ".join(f"{k}: {v};" for k, v in props.items()) + " }\n"


def defaults_of(agency_id: int) -> Branding | None:
    return db.session.scalar(sa.select(Branding).where(Branding.agency_id == agency_id, Branding.account_id.is_(None)))


def offers_language_picker(account: HostedAccount | None) -> bool:
    """Issue 26: the account's login page lets its client choose the language of its pages when the agency's
    branding allows it (an account no agency holds any more keeps its own language)."""
    if account is None or account.agency_id is None:
        return False
    return bool(db.session.scalar(sa.select(Branding.language_picker).where(
        Branding.agency_id == account.agency_id, Branding.account_id.is_(None))))


def of_account(account: HostedAccount) -> Branding | None:
    return db.session.scalar(sa.select(Branding).where(Branding.account_id == account.id))


def support_contact(account: HostedAccount) -> dict:
    """Whom the client of a closed account should contact: the support e-mail and link of the account's
    branding, else of its agency's defaults (a white-labelled account never names anyone else)."""
    brand = of_account(account) or (defaults_of(account.agency_id) if account.agency_id else None)
    return {"email": brand.support_email if brand else None, "url": brand.support_url if brand else None,
            "name": (brand.product_name if brand else None) or None}


def last_run(agency_id: int):
    """The agency's latest "apply the defaults to every account" operation (W1), for its progress."""
    return operations.latest("apply_branding", agency_id=agency_id)


def save_defaults(agency_id: int, data: BrandingInput, *, update_existing: bool, actor: audit.Actor,
                  add_templates: bool | None = None, language_picker: bool | None = None):
    """W1: the defaults for accounts created from now on; with update_existing, a background
    operation copies them (not templates) into every existing account that has no override.
    add_templates (W8 "Add my templates"): whether new accounts get the agency's templates; language_picker
    (issue 26): whether its accounts' login pages let the client choose the language; None keeps either."""
    permissions.require(actor, "library")
    values = validate(data)
    row = defaults_of(agency_id)
    if row is None:
        row = Branding(agency_id=agency_id)
        db.session.add(row)
    for key, value in values.items():
        setattr(row, key, value)
    detail = {}
    if add_templates is not None:
        row.add_templates = bool(add_templates)
        detail["add_templates"] = bool(add_templates)
    if language_picker is not None and bool(language_picker) != bool(row.language_picker):
        row.language_picker = bool(language_picker)
        detail["language_picker"] = bool(language_picker)
    op = None
    if update_existing:
        # Each save that asks for it is its own run: a new key per request.
        op = operations.submit("apply_branding", key=keys.branding_run(agency_id),
                               agency_id=agency_id, subject=("agency", agency_id))
    audit.record(actor, "branding_defaults_saved", agency_id=agency_id, update_existing=update_existing, **detail)
    db.session.commit()
    if op is not None:
        operations.enqueue(op)
    return row, op


def override(account: HostedAccount, data: BrandingInput, actor: audit.Actor) -> Branding:
    """W2: this account shows its own branding from now on."""
    permissions.require(actor, "manage_accounts")
    values = validate(data)
    row = of_account(account)
    if row is None:
        row = Branding(agency_id=account.agency_id, account_id=account.id)
        db.session.add(row)
        current = defaults_of(account.agency_id)
        if current is not None and "logo" not in values:
            row.logo, row.logo_mime = current.logo, current.logo_mime
    for key, value in values.items():
        setattr(row, key, value)
    account.branding_overridden = True
    audit.record(actor, "branding_overridden", agency_id=account.agency_id, account_id=account.id)
    db.session.commit()
    return row


def reset(account: HostedAccount, actor: audit.Actor) -> None:
    """W2: back to the agency's defaults."""
    permissions.require(actor, "manage_accounts")
    _copy_defaults(account, defaults_of(account.agency_id))
    account.branding_overridden = False
    audit.record(actor, "branding_reset", agency_id=account.agency_id, account_id=account.id)
    db.session.commit()


def follow_new_owner(account: HostedAccount) -> None:
    """After a transfer (A3): the account's branding row belongs to its new agency and, unless the
    account has a white label of its own, shows that agency's defaults instead of the previous one's."""
    row = of_account(account)
    if row is not None:
        row.agency_id = account.agency_id
    if not account.branding_overridden:
        _copy_defaults(account, defaults_of(account.agency_id))


def _copy_defaults(account: HostedAccount, defaults: Branding | None) -> None:
    row = of_account(account)
    if defaults is None:
        if row is not None:
            db.session.delete(row)
        return
    if row is None:
        row = Branding(agency_id=account.agency_id, account_id=account.id)
        db.session.add(row)
    for field in BRANDING_FIELDS:
        setattr(row, field, getattr(defaults, field))


def apply_branding(ctx: operations.OperationContext):
    """Copies the defaults into every account of the agency without an override, 200 at a time.
    Safe to resume: copying the same values twice changes nothing."""
    agency_id = ctx.operation.subject_id
    defaults = defaults_of(agency_id)
    ids = db.session.scalars(sa.select(HostedAccount.id).where(
        HostedAccount.agency_id == agency_id, HostedAccount.branding_overridden.is_(False))
        .order_by(HostedAccount.id)).all()
    total = len(ids)
    ctx.progress(0, max(total, 1), f"0 of {total} accounts")
    for start in range(0, total, 200):
        for account in db.session.scalars(sa.select(HostedAccount).where(HostedAccount.id.in_(ids[start:start + 200]))):
            _copy_defaults(account, defaults)
        done = min(total, start + 200)
        ctx.progress(done, max(total, 1), f"{done} of {total} accounts")
    kept = db.session.scalar(sa.select(sa.func.count()).select_from(HostedAccount).where(
        HostedAccount.agency_id == agency_id, HostedAccount.branding_overridden.is_(True)))
    return {"updated": total, "kept_own_branding": kept}
