"""Time and memory of ``GloVe.from_package()``: GloVe 6B, 400,000 words x 50 dimensions.

Each run is a fresh Python process that imports seqlearn (torch and NumPy with it), then
loads the vectors and reads its own ``/proc/self/status`` before and after: seconds to
load, resident memory added (``VmRSS``; split into anonymous memory, ``RssAnon``, and pages
of files such as pyarrow's shared libraries and the memory-mapped matrix, ``RssFile``), and
the peak added (``VmHWM``, as ``resource.getrusage``'s ``ru_maxrss``). Loading includes
pyarrow's first import, which ``from_package`` does. The run then times ``nearest("king")``,
which reads every row of the matrix and so maps all 80 MB of it into the process: file pages
that the kernel can drop, not a copy.

Run: ``python benchmarks/glove_load.py [--repeats 5]`` (needs the ``glove`` extra).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

FIELDS = ("VmRSS", "RssAnon", "RssFile", "VmHWM")


def memory_mb() -> dict[str, float]:
    """This process's resident memory figures, in MB (2**20 bytes)."""
    figures = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in FIELDS:
                figures[name] = int(value.split()[0]) / 1024  # kB -> MB
    figures["ru_maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB
    return figures


def one_run() -> dict[str, float]:
    """Load the vectors in this process and measure; the child side of a run."""
    from seqlearn.tokenize import GloVe

    before = memory_mb()
    start = time.perf_counter()
    vectors = GloVe.from_package()
    load_s = time.perf_counter() - start
    after = memory_mb()
    start = time.perf_counter()
    neighbours = vectors.nearest("king", k=5)
    nearest_s = time.perf_counter() - start
    touched = memory_mb()
    assert len(vectors) == 400_000 and vectors.dim == 50, vectors
    assert any(word in ("queen", "prince") for word, _ in neighbours), neighbours
    figures = {"load_s": load_s, "nearest_s": nearest_s}
    for name in (*FIELDS, "ru_maxrss"):
        figures[f"{name}_added"] = after[name] - before[name]
    figures["VmRSS_after_nearest"] = touched["VmRSS"] - before["VmRSS"]
    figures["RssFile_after_nearest"] = touched["RssFile"] - before["RssFile"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes to run")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_run()))
        return
    runs = []
    for _ in range(args.repeats):
        child = [sys.executable, __file__, "--child"]
        output = subprocess.run(child, check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(output.strip().splitlines()[-1]))
    columns = [
        ("load s", "load_s", "{:.3f}"),
        ("RSS +MB", "VmRSS_added", "{:.1f}"),
        ("anon +MB", "RssAnon_added", "{:.1f}"),
        ("file +MB", "RssFile_added", "{:.1f}"),
        ("peak +MB", "VmHWM_added", "{:.1f}"),
        ("nearest s", "nearest_s", "{:.3f}"),
        ("RSS +MB after nearest", "VmRSS_after_nearest", "{:.1f}"),
        ("of which file", "RssFile_after_nearest", "{:.1f}"),
    ]
    print("GloVe.from_package() in fresh processes (after importing seqlearn)")
    print(" | ".join(["run      ", *(title for title, _, _ in columns)]))
    for i, run in enumerate(runs, start=1):
        cells = [fmt.format(run[key]).rjust(len(title)) for title, key, fmt in columns]
        print(" | ".join([f"{i:<9}", *cells]))
    medians = [
        fmt.format(statistics.median(run[key] for run in runs)).rjust(len(title))
        for title, key, fmt in columns
    ]
    print(" | ".join(["median   ", *medians]))


if __name__ == "__main__":
    main()
