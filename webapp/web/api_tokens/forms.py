from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from ...services.api_tokens import NAME_MAX
from ..forms import Form


class TokenForm(Form):
    name = StringField(_l("Token name"), validators=[DataRequired(_l("Give the token a name.")),
                                                     Length(max=NAME_MAX)])
