#!/usr/bin/env python3
"""Regenerates communes.csv.gz from the shared reference data (see README.md).

Usage: python3 communes_from_shared.py /path/to/shared/data/communes.csv

Drops the `region` column (the département gives it) and rounds positions to
3 decimals (about 100 m; the source is good to a few km): the shipped file
stays under 800 kB. The output is byte-for-byte reproducible (gzip mtime 0).
"""
import csv
import gzip
import io
import sys

KEEP = ["insee", "name", "departement", "siren", "population", "epci_siren",
        "lat", "lon", "postal_codes"]

def main(source):
    with open(source, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(KEEP)
    for r in rows:
        for c in ("lat", "lon"):
            if r[c]:
                r[c] = f"{float(r[c]):.3f}"
        w.writerow([r[c] for c in KEEP])
    data = gzip.compress(out.getvalue().encode("utf-8"), compresslevel=9, mtime=0)
    with open("communes.csv.gz", "wb") as f:
        f.write(data)
    print(f"{len(rows)} communes, {len(data)} bytes")

if __name__ == "__main__":
    main(sys.argv[1])
