#!/usr/bin/env python3
"""Python's csv module on the other side of tests/data/test_csv.c's round trip.

    csv_roundtrip.py read  IN.csv  OUT.rec   parse IN.csv with csv.reader, write the records
    csv_roundtrip.py write IN.rec  OUT.csv   read records, write them with csv.writer

Records travel in a plain exchange format that needs no CSV: one line per record, each field
as "x" followed by its UTF-8 bytes in hex, fields separated by one space ([""] is "x", [] is an
empty line). csv.reader and csv.writer use the default "excel" dialect: ',' delimiter, '"'
quote, doubled quotes, QUOTE_MINIMAL, CRLF line terminator when writing.
"""
import csv
import sys


def encode(records):
    lines = []
    for rec in records:
        lines.append(" ".join("x" + f.encode("utf-8").hex() for f in rec))
    return "".join(line + "\n" for line in lines)


def decode(text):
    records = []
    for line in text.split("\n")[:-1]:
        fields = line.split(" ") if line else []
        records.append([bytes.fromhex(f[1:]).decode("utf-8") for f in fields])
    return records


def main(argv):
    if len(argv) != 4 or argv[1] not in ("read", "write"):
        sys.stderr.write(__doc__)
        return 2
    mode, src, dst = argv[1:]
    if mode == "read":
        with open(src, encoding="utf-8", newline="") as f:
            records = list(csv.reader(f, strict=True))
        with open(dst, "w", encoding="ascii", newline="") as f:
            f.write(encode(records))
    else:
        with open(src, encoding="ascii", newline="") as f:
            records = decode(f.read())
        with open(dst, "w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows(records)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
