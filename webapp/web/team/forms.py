from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from ...services import permissions
from ...services.team import NAME_MAX
from ...services.validation import EmailAddress
from ..forms import Form


def role_choices(acting_role: str | None) -> list[tuple[str, str]]:
    """The roles the acting member may give: an Admin cannot make Owners."""
    return [(role, str(permissions.ROLE_LABELS[role])) for role in permissions.ROLES
            if role != "owner" or acting_role == "owner"]


class InviteForm(Form):
    email = StringField(_l("E-mail"), filters=[lambda s: (s or "").strip()],
                        validators=[DataRequired(_l("Enter the e-mail to invite.")), Length(max=254),
                                                   EmailAddress()])
    role = SelectField(_l("Role"), default="member", validate_choice=False)  # the service checks it (403 for an Admin giving Owner)


class RoleForm(Form):
    # The service says who may give which role (and answers 403 or 409 with why).
    role = SelectField(_l("Role"), validate_choice=False)


class TransferForm(Form):
    user_id = SelectField(_l("New Owner"), validate_choice=False)


class RequireTwoFactorForm(Form):
    require_2fa = BooleanField(_l("Require two-factor sign-in for the team"))


class AcceptForm(Form):
    email = StringField(_l("E-mail"), render_kw={"readonly": True})
    name = StringField(_l("Your name"), validators=[DataRequired(_l("Enter your name.")), Length(max=NAME_MAX)])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Choose a password."))])
    confirm_password = PasswordField(_l("Password again"), validators=[DataRequired(_l("Type the password again."))])
