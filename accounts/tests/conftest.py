import pytest
from fernet_fields import EncryptedField

from accounts.models import SpotifyToken


def forget_fernet_keys():
    """fernet_fields caches its keys on each field: drop them so FERNET_KEYS is read again."""
    for field in SpotifyToken._meta.get_fields():
        if isinstance(field, EncryptedField):
            for name in ("keys", "fernet_keys", "fernet"):
                field.__dict__.pop(name, None)


@pytest.fixture
def fernet_keys(settings):
    """Set FERNET_KEYS for one test: ``fernet_keys([new, old])``; restored afterwards."""

    def use(keys):
        settings.FERNET_KEYS = list(keys)
        forget_fernet_keys()

    yield use
    forget_fernet_keys()
