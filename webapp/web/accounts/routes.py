"""One hosted account's page in the dashboard."""
import sqlalchemy as sa

from ...extensions import db
from ...models import Operation
from ...services import billing, billing_history, hosts
from ..decorators import agency_required, current_scope
from ..rendering import render
from . import bp


@bp.route("/accounts/<account_id>")
@agency_required
def show(account_id):
    account = current_scope().account(account_id)
    operation = db.session.scalar(sa.select(Operation).where(
        Operation.subject_type == "account", Operation.subject_id == account.id,
        Operation.kind == "provision_account"))
    return render("accounts/show.html", account=account, operation=operation,
                  login_url=hosts.account_login_url(account), balances=billing_history.account_balances(account),
                  sms_allowed=billing.sms_allowed(account))
