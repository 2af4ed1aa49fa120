#!/usr/bin/env python3
"""Seeds an imagestore SQLite catalog with N image rows, for bench/run.sh's catalog scenario.

    bench/seed_catalog.py CATALOG_DB TOTAL_ROWS

Uploading a million images through the API would take hours, and a metadata GET or a list
page reads only catalog rows (never blobs), so the rows are written straight into the
catalog while the server is stopped.

Every seeded row is a clone of a real row already in the catalog (an image uploaded
through the API just before), with a fresh UUID, serve key, unique blob key, subject and
timestamps. Cloning rather than inventing the format, size, hash and placeholder columns
means the server's row parser (src/storage/catalog/columns.rs, `image_from_row`) sees exactly
the values it writes itself, so the rows are valid by construction and stay valid if the
parser gets stricter. The seeded rows' blobs do not exist: fetching their bytes would 404,
which no catalog scenario does.

Only the standard library is used (no pip install on the benchmark machine).
"""

import os
import sqlite3
import sys
import time
import uuid

# Rows per executemany call: big enough to amortize Python overhead, small enough to keep
# memory flat.
CHUNK = 50_000


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} CATALOG_DB TOTAL_ROWS")
    path, total = sys.argv[1], int(sys.argv[2])
    db = sqlite3.connect(path, isolation_level=None)
    # The server keeps the catalog in WAL mode with synchronous=FULL; neither matters for
    # a bulk load into a stopped server's file, and both would make it far slower (and
    # grow a WAL as large as the table). The server switches back to WAL when it opens
    # the file.
    db.execute("PRAGMA journal_mode=DELETE")
    db.execute("PRAGMA synchronous=OFF")
    # Random UUIDs land all over the unique indexes; a large page cache keeps the load
    # from re-reading index pages from the OS.
    db.execute("PRAGMA cache_size=-1048576")

    db.row_factory = sqlite3.Row
    template = db.execute(
        "SELECT * FROM images WHERE expires_at IS NULL ORDER BY number LIMIT 1"
    ).fetchone()
    if template is None:
        sys.exit("the catalog has no image to clone: upload one through the API first")
    db.row_factory = None
    existing = db.execute("SELECT count(*) FROM images").fetchone()[0]
    wanted = total - existing
    if wanted <= 0:
        print(f"{path}: already {existing} rows")
        return

    env = template["environment_id"]
    # Timestamps a millisecond apart, ending now: a catalog that grew over time, oldest
    # first as the listing orders it.
    now_ms = int(time.time() * 1000)
    start_ms = now_ms - wanted

    def rows(first: int, count: int):
        for i in range(first, first + count):
            image_id = str(uuid.uuid4())
            created = start_ms + i
            yield (
                image_id,
                env,
                f"user:{existing + i + 1}",
                f"seed-{existing + i + 1}.jpg",
                template["format"],
                template["byte_size"],
                template["width"],
                template["height"],
                template["frames"],
                template["content_hash"],
                os.urandom(16).hex(),
                # The blob key shape of src/storage/blobs.rs (`{env}/{image}/original`),
                # unique as the column requires.
                f"{env}/{image_id}/original",
                created,
                created,
                template["thumbhash"],
                template["dominant_color"],
            )

    began = time.monotonic()
    db.execute("BEGIN")
    # Building an index once over sorted keys is several times faster than updating it
    # row by row with random UUIDs, so the plain indexes are dropped for the load and
    # made again from their own stored definitions (whatever the migrations say they
    # are). The UNIQUE columns' automatic indexes cannot be dropped and stay.
    indexes = db.execute(
        "SELECT name, sql FROM sqlite_master "
        "WHERE type = 'index' AND tbl_name = 'images' AND sql IS NOT NULL"
    ).fetchall()
    for name, _ in indexes:
        db.execute(f'DROP INDEX "{name}"')
    for first in range(0, wanted, CHUNK):
        db.executemany(
            "INSERT INTO images (id, environment_id, subject, filename, format, byte_size, "
            "width, height, frames, content_hash, serve_key, blob_key, created_at, "
            "updated_at, thumbhash, dominant_color) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows(first, min(CHUNK, wanted - first)),
        )
    for _, sql in indexes:
        db.execute(sql)
    db.execute("COMMIT")
    # No ANALYZE: the server never runs it (nor `PRAGMA optimize`), so a real catalog has
    # no planner statistics either, and the query plans measured are the ones it gets.
    db.close()
    print(f"{path}: {existing} + {wanted} rows in {time.monotonic() - began:.1f} s")


if __name__ == "__main__":
    main()
