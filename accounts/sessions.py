"""Session engine (``SESSION_ENGINE = "accounts.sessions"``): Django's database
sessions, stored in ``accounts.ListenerSession`` with the user id in a column of its own.

Django's documented way to extend the database session engine
(``get_model_class`` and ``create_model_instance``). The column is refreshed at
every save, so it always says whose session it is: the user id Django's login
put into the session, or nothing.
"""

import logging

import psycopg.errors
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.base import CreateError, UpdateError
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.core.exceptions import SuspiciousOperation, ValidationError
from django.db import IntegrityError
from django.utils import timezone
from django.utils.crypto import constant_time_compare


class SessionStore(DatabaseSessionStore):
    # The user row read with the session's (one query, a join), or None; see
    # user_loaded_with().
    loaded_user = None

    @classmethod
    def get_model_class(cls):
        from accounts.models import ListenerSession

        return ListenerSession

    def _get_session_from_db(self):
        """Django's, with the user's row joined: every logged-in request reads its
        session, and the user comes along in that one query."""
        self.loaded_user = None
        try:
            session = self.model.objects.select_related("user").get(
                session_key=self.session_key, expire_date__gt=timezone.now()
            )
        except (self.model.DoesNotExist, SuspiciousOperation) as error:
            if isinstance(error, SuspiciousOperation):
                logger = logging.getLogger(f"django.security.{error.__class__.__name__}")
                logger.warning(str(error))
            self._session_key = None
            return None
        self.loaded_user = session.user
        return session

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


def user_loaded_with(session):
    """The user of ``session`` as its own query loaded it, when Django's
    ``auth.get_user`` would return that very user; else None.

    Django's check, step for step, on the row the session's query joined
    (``SessionStore._get_session_from_db``) instead of a query of its own: the
    user id in the session's data is the row's, the backend that logged them in
    is still configured, the user is active (both backends refuse inactive
    users), and the session's auth hash matches the user's under SECRET_KEY.
    Anything else (no session, an anonymous one, a hash made under a fallback
    key, a deactivated user) is None, and the caller goes Django's own way, with
    its queries, key rotation and flush. A deleted user has no session left to
    load (CASCADE), and "Log out everywhere" deletes the rows: neither finds a
    user here.
    """
    try:
        # Reading the data loads the session (and with it the user) if nothing has yet.
        user_id = session[SESSION_KEY]
        backend = session[BACKEND_SESSION_KEY]
    except KeyError:
        return None
    user = getattr(session, "loaded_user", None)
    if user is None or backend not in settings.AUTHENTICATION_BACKENDS:
        return None
    try:
        if user._meta.pk.to_python(user_id) != user.pk:
            return None
    except ValidationError:
        return None
    if not getattr(user, "is_active", True):
        return None
    session_hash = session.get(HASH_SESSION_KEY)
    if not session_hash or not constant_time_compare(session_hash, user.get_session_auth_hash()):
        return None
    return user
