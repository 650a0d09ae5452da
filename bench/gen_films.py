#!/usr/bin/env python3
"""Write a large JSON array of film-like objects for the JSON and CSV benchmarks.

    bench/gen_films.py [--count N] [--mb M] [--full] OUT

Records are the Studio Ghibli films of data/ghibli.json, repeated in order with varied ids,
titles and numbers (record i gets a fresh UUID-shaped id and "#i" after its title). By
default each record keeps the film's scalar fields and the first two entries of each of its
URL lists, about 1 KB of JSON; --full keeps the whole lists. The array is written compactly
(as an API sends it) and streamed, so any size can be generated with little memory.
--count stops after N records (default 200,000); --mb stops once the file reaches M
megabytes (10^6 bytes), whichever comes first when both are given.
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def records(films, full):
    i = 0
    while True:
        for film in films:
            rec = {}
            for key, value in film.items():
                if isinstance(value, list) and not full:
                    value = value[:2]
                rec[key] = value
            rec["id"] = "%08x-%04x-4%03x-8%03x-%012x" % (
                i * 2654435761 & 0xFFFFFFFF, i & 0xFFFF, i % 4096, (i * 7) % 4096, i)
            rec["title"] = "%s #%d" % (film["title"], i)
            rec["rt_score"] = str((int(film.get("rt_score") or 50) + i) % 101)
            rec["url"] = "https://ghibliapi.vercel.app/films/" + rec["id"]
            yield rec
            i += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=None)
    ap.add_argument("--mb", type=float, default=None)
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "ghibli.json"))
    args = ap.parse_args()
    count = args.count if args.count is not None else (None if args.mb else 200000)
    limit = int(args.mb * 1e6) if args.mb else None
    with open(args.data, encoding="utf-8") as f:
        films = json.load(f)["films"]
    written = 0
    n = 0
    with open(args.out, "w", encoding="utf-8", newline="") as out:
        out.write("[")
        written += 1
        for rec in records(films, args.full):
            if (count is not None and n >= count) or (limit is not None and written >= limit):
                break
            text = ("," if n else "") + json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
            out.write(text)
            written += len(text.encode("utf-8"))
            n += 1
        out.write("]")
    print("%s: %d records, %.1f MB" % (args.out, n, (written + 1) / 1e6), file=sys.stderr)


if __name__ == "__main__":
    main()
