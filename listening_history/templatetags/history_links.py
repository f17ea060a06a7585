"""``{% artist_url name as url %}`` and ``{% track_url name artist as url %}``: the signed-in
listener's detail pages (``listening_history.links``); "" for an anonymous viewer."""

from django import template

from listening_history import links

register = template.Library()


def _listener(context):
    request = context.get("request")
    user = getattr(request, "user", None)
    return user.pk if user is not None and user.is_authenticated else None


@register.simple_tag(takes_context=True)
def artist_url(context, name):
    user_id = _listener(context)
    return (links.artist_url(user_id, name) or "") if user_id is not None else ""


@register.simple_tag(takes_context=True)
def track_url(context, name, artist):
    user_id = _listener(context)
    return (links.track_url(user_id, name, artist) or "") if user_id is not None else ""
