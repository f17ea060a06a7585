"""The other app on Euterpe's database: bookshelf-hermes, which owns `public`.

Every database the tests and devtools.stack make gets its tables, with data,
before Euterpe migrates; the test session ends by proving its fingerprint
byte-for-byte what it was.
"""

NEIGHBOUR_SQL = """
CREATE TABLE public.users (
    id serial PRIMARY KEY,
    email text NOT NULL UNIQUE,
    name text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE public.books (
    id serial PRIMARY KEY,
    owner_id integer NOT NULL REFERENCES public.users (id),
    title text NOT NULL,
    isbn text
);
CREATE TABLE public.django_migrations (
    id bigserial PRIMARY KEY,
    app varchar(255) NOT NULL,
    name varchar(255) NOT NULL,
    applied timestamptz NOT NULL
);
CREATE TABLE public.django_session (
    session_key varchar(40) PRIMARY KEY,
    session_data text NOT NULL,
    expire_date timestamptz NOT NULL
);
INSERT INTO public.users (email, name, created_at) VALUES
    ('ada@bookshelf.example', 'Ada', '2024-01-02T03:04:05Z'),
    ('grace@bookshelf.example', 'Grace', '2024-02-03T04:05:06Z');
INSERT INTO public.books (owner_id, title, isbn) VALUES
    (1, 'Notes on the Analytical Engine', '978-0000000001'),
    (2, 'A Compiler for the A-0 System', NULL);
INSERT INTO public.django_migrations (app, name, applied) VALUES
    ('shelf', '0001_initial', '2024-01-01T00:00:00Z'),
    ('sessions', '0001_initial', '2024-01-01T00:00:00Z');
INSERT INTO public.django_session (session_key, session_data, expire_date) VALUES
    ('neighbourSessionKey0000000000000000000', 'e30:neighbour', '2099-01-01T00:00:00Z');
"""

NEIGHBOUR_TABLES = ("books", "django_migrations", "django_session", "users")


def fingerprint(cursor):
    """Everything in `public`: objects, column definitions and every row."""
    cursor.execute(
        "SELECT c.relname, c.relkind FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' ORDER BY c.relname"
    )
    objects = cursor.fetchall()
    cursor.execute(
        "SELECT table_name, column_name, data_type, is_nullable, column_default "
        "FROM information_schema.columns WHERE table_schema = 'public' "
        "ORDER BY table_name, ordinal_position"
    )
    columns = cursor.fetchall()
    cursor.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexdef")
    indexes = cursor.fetchall()
    rows = {}
    for table, kind in objects:
        if kind == "r":
            cursor.execute(
                f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                f'FROM public."{table}" t'
            )
            rows[table] = cursor.fetchone()[0]
    return {"objects": objects, "columns": columns, "indexes": indexes, "rows": rows}
