"""Pushdown automations (P1-P10): automations built in the agency's parent account, pushed one
at a time into chosen sub-accounts by a background operation, switched on and off for all of them
at once. The rules live here, shared by the dashboard, the API and the jobs.

A pushdown's chosen sub-accounts are its PushdownCopy rows (unique per pushdown and account). A
publish copies the automation's version of that moment into each pending copy, a batch per
transaction: a worker killed mid-batch loses the batch's uncommitted work, and the next worker
redoes exactly that batch, so no sub-account ever gets two copies.

One module per concern; a module imports only modules listed above it:
    franchise    P10: only for franchise partners; the agency's parent account
    automations  P1: automations in the parent account, their versions, their text and diff (P6)
    wizard       P2/P3: a pushdown being prepared - its automation, sub-accounts, activation, schedule
    switching    P5: one switch for all; an account leaving its agency leaves its pushdowns
    publishing   P3/P4: publish, push update, retry, delete a draft; the publish_pushdown operation
    scheduled    the periodic task run_due: scheduled publishes and activations whose instant has come
    reporting    P2/P9: exact counts, the listing, the report

Callers use `from webapp.services import pushdown` and `pushdown.<name>`; the names below are
those they use."""
from __future__ import annotations

from ...models import Pushdown  # bench/pushdown.py reaches the model as pushdown.Pushdown
from .automations import (MAX_STEPS, STEP_TYPES, AutomationInput, delete_automation, describe, diff,
                          message_changed, message_excerpt, parent_automation, parent_automations, parent_templates,
                          save_automation, version)
from .franchise import ensure_parent, parent_account, require_franchise, set_franchise
from .publishing import (BATCH, delete_draft, last_operation, publish, publish_operation, push_update, retry_failed,
                         save_wizard)
from .reporting import (REPORT_STATES, chart, counts, failure_text, listing, parent_changed, report, summary,
                        version_pushed_at)
from .scheduled import run_due
from .switching import release_account, switch
from .wizard import (ActivationInput, Selection, activation_of, candidates, change_automation, change_selection,
                     create_draft, pushdown, save_draft, schedule, schedule_of, select, select_matching, selected_count,
                     selection_of, set_activation, unselect, wizard_accounts)

__all__ = [
    # franchise
    "ensure_parent", "parent_account", "require_franchise", "set_franchise",
    # automations
    "MAX_STEPS", "STEP_TYPES", "AutomationInput", "delete_automation", "describe", "diff", "message_changed",
    "message_excerpt", "parent_automation", "parent_automations", "parent_templates", "save_automation", "version",
    # wizard
    "ActivationInput", "Selection", "activation_of", "candidates", "change_automation", "change_selection",
    "create_draft", "pushdown", "save_draft", "schedule", "schedule_of", "select", "select_matching", "selected_count",
    "selection_of", "set_activation", "unselect", "wizard_accounts",
    # switching
    "release_account", "switch",
    # publishing
    "BATCH", "delete_draft", "last_operation", "publish", "publish_operation", "push_update", "retry_failed",
    "save_wizard",
    # scheduled
    "run_due",
    # reporting
    "REPORT_STATES", "chart", "counts", "failure_text", "listing", "parent_changed", "report", "summary",
    "version_pushed_at",
    # the model, for bench/pushdown.py
    "Pushdown",
]
