"""The entries' index by item, for the artist and track pages (``Entry.Meta``), and room in
a stored summary's key for those pages (``PrecomputedSummary.period``).

The index is built CONCURRENTLY, so a deploy onto a big table never blocks imports or pages.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("listening_history", "0003_sync")]

    operations = [
        AddIndexConcurrently(
            model_name="entry",
            index=models.Index(
                fields=["item", "ts"], include=("ms_played", "user"), name="lh_entry_item"
            ),
        ),
        migrations.AlterField(
            model_name="precomputedsummary",
            name="period",
            field=models.CharField(
                help_text="'all' or 'YYYY-MM-DD..YYYY-MM-DD'; an artist's or a track's page "
                "prefixes 'artist:<id>:' or 'track:<id>:'.",
                max_length=80,
            ),
        ),
    ]
