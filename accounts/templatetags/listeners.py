"""``{{ user|display_name }}``: what Euterpe calls the listener, in any template."""

from django import template

from accounts import services

register = template.Library()

register.filter("display_name", services.display_name)
