"""A hosted account's life in the dashboard and the API (A1-A10):
validation - its name, domain and plan, checked alike everywhere (A1);
lifecycle  - creation with its first charge, plan changes, renew, cancel and resume, trials, closed states, the
             agency's own disable and enable, the client's details edited after Add New (A2, A5, A7, A8);
domains    - the custom domain and its DNS verification (A9);
login_as   - opening it as its admin (by the agency or by support, with a reason), and the end of that way in
             when it leaves the agency (A10, A3, A4)."""
from .domains import cname_target, set_domain, verify_domain
from .lifecycle import (CLOSED_STATUSES, apply_trial_extension, cancel, change_plan, closed_reason, create, disable,
                        enable, extend_trial, preview_change, renew, resumable, resume, retry_provisioning,
                        update_details)
from .login_as import (LOGIN_AS_SECONDS, end_agency_access, login_as_link, redeem_login_as,
                       support_login_as_link)
from .validation import (DETAIL_FIELDS, LANGUAGES, RESERVED_NAMES, ClientDetails, NewAccount, details_problems,
                         domain_problem, name_problem, new_request_key, normalize_domain, plan_problems, price_of, quote,
                         validate_new)

__all__ = [
    "CLOSED_STATUSES", "DETAIL_FIELDS", "LANGUAGES", "LOGIN_AS_SECONDS", "RESERVED_NAMES", "ClientDetails",
    "NewAccount", "apply_trial_extension", "cancel", "change_plan", "closed_reason", "cname_target", "create",
    "details_problems", "disable", "domain_problem", "enable", "end_agency_access", "extend_trial", "login_as_link",
    "name_problem", "new_request_key", "normalize_domain", "plan_problems", "preview_change", "price_of", "quote", "redeem_login_as",
    "renew", "resumable", "resume", "retry_provisioning", "set_domain", "support_login_as_link", "update_details",
    "validate_new", "verify_domain",
]
