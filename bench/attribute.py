#!/usr/bin/env python3
"""Sorts a server's perf samples into the parts of imagestore they were spent in.

    perf script -F comm,tid,period,ip,sym,dso | bench/attribute.py [CPU_US_PER_REQUEST]

bench/profile.sh runs this on a profile taken with call stacks (`perf record -g
--call-graph dwarf`). A flat profile lists thousands of symbols; the question a missed goal
asks is coarser: how much of a request is the decode that proves an upload, how much the
durable writes, how much HTTP. So each sample is given to one component:

1. the first *specific* component (decode, placeholder, catalog, blob store, ...) that any
   frame of its stack belongs to, checked in the order of COMPONENTS; a sample inside
   SQLite's fsync is the catalog's, a sample in memset under the JPEG decoder is the
   decode's;
2. otherwise, walking from the leaf, the first *generic* component a frame belongs to
   (HTTP, the runtime's scheduling, the allocator), since every request's stack has hyper
   and tokio at its root.

The table gives each component's share of the samples, the share of those samples that
were in the kernel (syscalls, page faults, interrupts), and, when the server CPU per
request measured without the profiler is given, the microseconds that share stands for.
Only the standard library is used.
"""

import re
import sys
from collections import Counter

# (name, pattern on a frame's symbol), most specific first. The order matters where a
# stack holds two: the placeholder resizes pixels with fast_image_resize, which a render
# also uses, so the placeholder comes before rendering.
COMPONENTS = [
    ("proof decode (JPEG, jpeg_decoder)", r"jpeg_decoder::"),
    (
        "placeholder (ThumbHash, dominant colour)",
        r"media::placeholder|thumb_hash|placeholder_hashing",
    ),
    (
        "rendering (resize, encode)",
        r"media::transform|fast_image_resize|jpeg_encoder|libwebp|WebP|ravif|rav1e",
    ),
    ("other decoders (image crate, zune, png, gif, webp)", r"(?<!\w)image::|zune_|(?<!\w)png::|(?<!\w)gif::|image_webp"),
    ("metadata strip, sniff, EXIF", r"media::metadata|media::sniff|media::exif|media::jpeg|media::gif|media::webp"),
    ("content hash (blake3)", r"blake3"),
    ("catalog (SQLite, sqlx)", r"sqlite3|rusqlite|sqlx|storage::catalog"),
    ("blob store: staging write (mkdir, create, write)", r"durable_directory::stage|create_staging"),
    ("blob store: group sync (syncfs, rename)", r"durable_directory::sync_groups|syncfs"),
    ("blob store: reads, cache", r"storage::blobs|storage::memo|file_backed|object_store::|quick_cache"),
    ("auth (key check, HMAC)", r"imagestore::auth|(?<!\w)hmac::|(?<!\w)sha2::|subtle::|principal::"),
    ("metadata JSON (serde)", r"serde_json|rendered_views|native::.*view"),
    # Not the task-local scope that request_context runs every request in
    # (`scope_inner<imagestore::logging::line::RequestLabel, …>`): that frame holds the
    # whole request.
    ("logging", r"^(<|drop_in_place<|\{closure#0\}<)?imagestore::logging::"),
    ("metrics", r"(?<!\w)metrics::|metrics_exporter|metrics_util"),
]
GENERIC = [
    ("HTTP (hyper, axum, sockets)", r"hyper::|hyper_util::|axum::|imagestore::http::|tokio::net::|mio::|tcp_|inet_|sock_|skb"),
    ("runtime: scheduling, wake-ups, futex", r"tokio::|parking_lot|std::sync::|futex|sched|schedule|__switch_to|finish_task_switch"),
    ("allocator", r"(?<!\w)mi_|_mi_|mimalloc|malloc|(?<!\w)free"),
]
SPECIFIC = [(name, re.compile(pattern)) for name, pattern in COMPONENTS]
LEAFWARD = [(name, re.compile(pattern)) for name, pattern in GENERIC]


def stacks(lines):
    """Yields each sample's frames, leaf first, as (symbol, in_kernel) pairs."""
    frames = []
    for line in lines:
        if not line.strip():
            if frames:
                yield frames
            frames = []
        elif line.startswith(("\t", " ")):
            parts = line.strip().split(" ", 1)
            if len(parts) == 2:
                symbol = parts[1].rsplit(" (", 1)[0]
                frames.append((symbol, "kernel.kallsyms" in parts[1] or "[kernel" in parts[1]))
    if frames:
        yield frames


def component(frames):
    for name, pattern in SPECIFIC:
        if any(pattern.search(symbol) for symbol, _ in frames):
            return name
    for symbol, _ in frames:
        for name, pattern in LEAFWARD:
            if pattern.search(symbol):
                return name
    return "kernel, no user frame" if frames[0][1] else "other"


def main():
    per_request = float(sys.argv[1]) if len(sys.argv) > 1 else None
    counts, in_kernel = Counter(), Counter()
    total = 0
    for frames in stacks(sys.stdin):
        total += 1
        name = component(frames)
        counts[name] += 1
        if frames[0][1]:
            in_kernel[name] += 1
    if total == 0:
        sys.exit("attribute.py: no samples with call stacks on stdin")
    unit = " | µs per request" if per_request else ""
    print(f"| component | share of samples | of which in the kernel{unit} |")
    print("|---|---|---" + ("|---|" if per_request else "|"))
    for name, count in counts.most_common():
        cells = [name, f"{100 * count / total:.1f}%", f"{100 * in_kernel[name] / count:.0f}%"]
        if per_request:
            cells.append(f"{per_request * count / total:.0f}")
        print("| " + " | ".join(cells) + " |")
    kernel = sum(in_kernel.values())
    print(f"\n{total} samples, {100 * kernel / total:.0f}% of them in the kernel.")


if __name__ == "__main__":
    main()
