"""Common questions (S1): the FAQ, searchable as you type; the query lives in the URL."""
import re

from flask import current_app, request, url_for
from markupsafe import Markup, escape

from ..decorators import dashboard_user_required
from ..rendering import render
from . import faq
from .blueprint import bp


def links_of(entry: faq.Question) -> list[tuple[str, str]]:
    """(label, URL) of the pages an answer talks about, leaving out pages that have not landed yet."""
    return [(str(link.label), url_for(link.endpoint, **link.params)) for link in entry.links
            if link.endpoint in current_app.view_functions]


def highlight(text: str, terms: list[str]) -> Markup:
    """The text, escaped, with each searched word marked."""
    if not terms:
        return escape(text)
    pattern = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.IGNORECASE)
    out, last = [], 0
    for match in pattern.finditer(text):
        out += [escape(text[last:match.start()]), Markup("<mark>"), escape(match.group()), Markup("</mark>")]
        last = match.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


@bp.route("/help", endpoint="faq")
@dashboard_user_required
def faq_page():
    q = " ".join((request.args.get("q") or "").split())[:faq.MAX_QUERY]
    found = faq.search(q)
    return render("help/faq.html", "help/_results.html", q=q, groups=faq.by_topic(found), count=len(found),
                  total=len(faq.FAQ), terms=faq.terms_of(q), links_of=links_of, highlight=highlight)
