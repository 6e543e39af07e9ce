from flask_babel import lazy_gettext as _l
from wtforms import DateField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from ...services.api_tokens import NAME_MAX, SCOPE_LABELS
from ..forms import Form


class TokenForm(Form):
    name = StringField(_l("Token name"), validators=[DataRequired(_l("Give the token a name.")),
                                                     Length(max=NAME_MAX)])
    scope = SelectField(_l("Access"), choices=list(SCOPE_LABELS.items()), default="read_write",
                        validators=[DataRequired(_l("Choose read only, or read and write."))])
    expires_on = DateField(_l("Expires after (optional)"), validators=[Optional()],
                           description=_l("The last day it works, in UTC. Leave it empty for a token that does not "
                                          "expire."))
