"""Session engine (``SESSION_ENGINE = "accounts.sessions"``): Django's database
sessions, stored in ``accounts.ListenerSession`` with the user id in a column of its own.

Django's documented way to extend the database session engine
(``get_model_class`` and ``create_model_instance``). The column is refreshed at
every save, so it always says whose session it is: the user id Django's login
put into the session, or nothing.
"""

import psycopg.errors
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.base import CreateError, UpdateError
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import IntegrityError


class SessionStore(DatabaseSessionStore):
    @classmethod
    def get_model_class(cls):
        from accounts.models import ListenerSession

        return ListenerSession

    def create_model_instance(self, data):
        session = super().create_model_instance(data)
        try:
            session.user_id = int(data.get(SESSION_KEY))
        except (TypeError, ValueError):
            session.user_id = None
        return session

    def save(self, must_create=False):
        """Django's save; a session whose user was deleted meanwhile is not saved.

        A request of a listener who disconnects in another tab may still save its
        session after the user (and with it every session) is gone: the foreign
        key refuses the row. That is an UpdateError, which Django's session
        middleware answers with a 400 ("the session was deleted"), never a 500 and
        never a session brought back to life.
        """
        try:
            return super().save(must_create=must_create)
        except (IntegrityError, CreateError) as error:
            # Django turns an IntegrityError of a new session into CreateError
            # ("key taken, try another"), which create() would retry forever here.
            database_error = error if isinstance(error, IntegrityError) else error.__context__
            if isinstance(
                getattr(database_error, "__cause__", None), psycopg.errors.ForeignKeyViolation
            ):
                raise UpdateError from error
            raise


def end_sessions_of(user):
    """Delete every session of ``user``, on every device; how many there were."""
    from accounts.models import ListenerSession

    deleted, _ = ListenerSession.objects.filter(user_id=user.pk).delete()
    return deleted
