from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from ..forms import Form


class BrandingForm(Form):
    product_name = StringField(_l("Product name"), validators=[Optional(), Length(max=80)])
    logo = FileField(_l("Logo (PNG, JPEG or SVG, up to 512 KB)"))
    remove_logo = BooleanField(_l("Remove the logo"))
    primary_color = StringField(_l("Primary colour"), default="#2454a6", validators=[Length(max=7)])
    accent_color = StringField(_l("Accent colour"), default="#0e7c66", validators=[Length(max=7)])
    support_email = StringField(_l("Support e-mail"), validators=[Optional(), Length(max=254)])
    support_url = StringField(_l("Support link"), validators=[Optional(), Length(max=500)])
    login_headline = StringField(_l("Login page headline"), validators=[Optional(), Length(max=120)])
    login_text = TextAreaField(_l("Login page text"), validators=[Optional(), Length(max=1000)])


class DefaultsForm(BrandingForm):
    update_existing = BooleanField(_l("Update all existing hosted accounts"))
    add_templates = BooleanField(_l("Add my templates"), default=True)
    language_picker = BooleanField(_l("Let clients choose their language on the login page"), default=False)


class TemplateForm(Form):
    """W8 "basic": a name, tags and pasted HTML (sanitized by the service)."""
    name = StringField(_l("Name"))  # lengths are the service's rules, told next to the field
    tags = StringField(_l("Tags (separated by commas)"))
    html = TextAreaField(_l("HTML"))


class ShareLinkForm(Form):
    """W8 "designer" / W9 "Import template": a template share link."""
    link = StringField(_l("Template share link"), validators=[Length(max=500)])
    name = StringField(_l("Name (optional: the shared template's name otherwise)"), validators=[Optional(), Length(max=120)])
