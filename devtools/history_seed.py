"""A generated listening history written straight into the database (e2e and the benchmark).

``python -m devtools.history_seed NAME --entries N`` gives every user whose username or first
name contains NAME ``N`` entries over the last ``--years`` years: ``--tracks`` tracks (3,000 by
default) of a tenth as many artists, some podcast episodes, audiobook chapters and unknown
entries, with platforms, countries, reasons and flags. ``--create K`` first creates the users
NAME-0001 … NAME-K that do not exist yet (the benchmark's crowd of listeners who never log in).
Items and terms go in through the ORM; the entries through one ``INSERT … SELECT
generate_series`` (half a million rows in seconds). Not for production data.
"""

import argparse
import os
import random


def seed(user, *, entries, years=3, tracks=3000, rng_seed=17):
    from django.db import connection, transaction

    from listening_history.insight_models import PrecomputedSummary
    from listening_history.models import Album, Artist, Item, Kind, Term
    from listening_history.reader import item_keys

    rnd = random.Random(rng_seed)
    with transaction.atomic():
        artists = Artist.objects.bulk_create(
            [Artist(user=user, name=f"Artist {n}") for n in range(max(1, tracks // 10))],
            ignore_conflicts=True,
        )
        artists = list(Artist.objects.filter(user=user).order_by("id"))
        albums = Album.objects.bulk_create(
            [
                Album(user=user, artist=artists[n % len(artists)], name=f"Album {n}")
                for n in range(max(1, tracks // 5))
            ],
            ignore_conflicts=True,
        )
        albums = list(Album.objects.filter(user=user).select_related("artist").order_by("id"))
        items = []
        for n in range(tracks):
            album = albums[n % len(albums)]
            names = (
                f"Song {n}",
                album_artist := album.artist.name,
                album.name,
                None,
                None,
                None,
                None,
            )
            uri = f"spotify:track:s{n:021d}"
            key, match_key = item_keys(Kind.TRACK, names, uri)
            items.append(
                Item(
                    user=user,
                    key=key,
                    match_key=match_key,
                    kind=Kind.TRACK,
                    track_name=names[0],
                    artist_id=album.artist_id,
                    album=album,
                    track_uri=uri,
                )
            )
            del album_artist
        for n in range(120):
            show = f"Show {n % 6}"
            names = (None, None, None, f"Episode {n}", show, None, None)
            key, match_key = item_keys(Kind.EPISODE, names, f"spotify:episode:e{n}")
            items.append(
                Item(
                    user=user,
                    key=key,
                    match_key=match_key,
                    kind=Kind.EPISODE,
                    episode_name=f"Episode {n}",
                    show_name=show,
                    episode_uri=f"spotify:episode:e{n}",
                )
            )
        for n in range(20):
            names = (None, None, None, None, None, "A Book", f"Chapter {n}")
            key, match_key = item_keys(Kind.CHAPTER, names, f"spotify:episode:c{n}")
            items.append(
                Item(
                    user=user,
                    key=key,
                    match_key=match_key,
                    kind=Kind.CHAPTER,
                    audiobook_title="A Book",
                    chapter_title=f"Chapter {n}",
                    chapter_uri=f"spotify:episode:c{n}",
                )
            )
        key, match_key = item_keys(Kind.UNKNOWN, (None,) * 7, None)
        items.append(Item(user=user, key=key, match_key=match_key, kind=Kind.UNKNOWN))
        Item.objects.bulk_create(items, ignore_conflicts=True)
        terms = [
            "android",
            "ios",
            "windows",
            "web_player",
            "DE",
            "SE",
            "AR",
            "US",
            "trackdone",
            "fwdbtn",
            "endplay",
            "logout",
        ]
        Term.objects.bulk_create([Term(user=user, text=t) for t in terms], ignore_conflicts=True)
        term = dict(Term.objects.filter(user=user).values_list("text", "id"))
        item_ids = list(Item.objects.filter(user=user).order_by("id").values_list("id", flat=True))
        rnd.shuffle(item_ids)
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO listening_history_entry
                    (user_id, ts, item_id, ms_played, source, platform_id, conn_country_id,
                     reason_start_id, reason_end_id, shuffle, skipped, offline, incognito_mode)
                SELECT %(user)s,
                       now() - make_interval(secs => (%(span)s::bigint * g / %(n)s)::float8),
                       (%(items)s::int[])[
                           (1 + ((g * 7919) %% array_length(%(items)s::int[], 1)))::int],
                       CASE WHEN g %% 5 = 0 THEN (g * 37) %% 30000
                            ELSE 30000 + (g * 7877) %% 300000 END,
                       1,
                       (%(platforms)s::int[])[(1 + g %% 4)::int],
                       (%(countries)s::int[])[(1 + (g / 97) %% 4)::int],
                       (%(ends)s::int[])[(1 + g %% 4)::int],
                       (%(ends)s::int[])[(1 + (g / 3) %% 4)::int],
                       g %% 3 = 0, CASE WHEN g %% 7 = 0 THEN NULL ELSE g %% 5 = 0 END,
                       g %% 11 = 0, false
                -- bigint: g * 7919 passes 2^31 past 271,000 entries.
                FROM generate_series(1, %(n)s::bigint) AS g
                ON CONFLICT DO NOTHING
                """,
                {
                    "user": user.pk,
                    "span": years * 365 * 86400,
                    "n": entries,
                    "items": item_ids,
                    "platforms": [term[t] for t in terms[:4]],
                    "countries": [term[t] for t in terms[4:8]],
                    "ends": [term[t] for t in terms[8:]],
                },
            )
            added = cursor.rowcount
        # No import row changes, so the history's stamp would not either: drop what was
        # precomputed from the entries before.
        PrecomputedSummary.objects.filter(user=user).delete()
    return added


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--tracks", type=int, default=3000)
    parser.add_argument("--create", type=int, default=0, metavar="K")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "euterpe_site.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db.models import Q

    model = get_user_model()
    if args.create:
        model.objects.bulk_create(
            [model(username=f"{args.name}-{n:04d}") for n in range(1, args.create + 1)],
            ignore_conflicts=True,
        )
    users = model.objects.filter(
        Q(username__icontains=args.name) | Q(first_name__icontains=args.name)
    ).order_by("pk")
    for user in users:
        added = seed(user, entries=args.entries, years=args.years, tracks=args.tracks)
        print(f"{user.username}: {added} entries")


if __name__ == "__main__":
    main()
