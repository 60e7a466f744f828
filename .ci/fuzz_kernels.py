"""Differential fuzz of lineindex's kernels: the C kernel against the numpy kernel.

    python .ci/fuzz_kernels.py [SECONDS] [SEED]

Random and mutated inputs (pieces of record headers, CLFRX ids in every layout, class and
method words, block keys, CR, "]", non-ASCII whitespace, cut fixture logs, random bytes) are
indexed as a sub-range of a larger buffer by both kernels; every field must be equal. Run by
.ci/sanitize with the C kernel built under AddressSanitizer and UBSan, where a read outside
the region is an error.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from stproxy_monitor.logs.lineindex import kernel

PIECES = [
    b"[",
    b"]",
    b"\r",
    b"\n",
    b" ",
    b"  ",
    b"   ",
    b"\t",
    b"\xa0",
    b"\xc2\xa0",
    b"X",
    b"V",
    b"CLFRX",
    b"CLFRX0079W",
    b"CLFRX0012I:",
    b"CLFRX0015W ",
    b"WSVR00",
    b"WSVR0001I",
    b"O ",
    b"R ",
    b"[5/10/20 3:09:01:349 UTC] 0000004e APNSService   W   ",
    b"0000004e",
    b"IssuerDN:",
    b"SubjectDN:",
    b"From (yyyy-mm-dd):",
    b"To (yyyy-mm-dd):",
    b"MD5:",
    b"WebSphere Platform ",
    # the class+method layout: class and method words before the id, an empty method
    b"com.ibm.collaboration.realtime.stproxy.services.APNS.APNSService startAPNS ",
    b"WebsphereCommonLauncher  ",
    b"[5/10/20 3:09:01:349 UTC] 0000004e LoginService  I com.ibm.X login CLFRX0012I: ",
    b"[5/10/20 3:09:01:349 UTC] 0000004e APNSService   W com.ibm.X startAPNS CLFRX0079W: ",
    b"com.ibm.\xc3\xa9 ",
    b"run ",
    b"WebSphere ",
    b"MD5Util ",
]


def main() -> None:
    """Fuzz for the given seconds; exit 1 on the first difference."""
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60
    rnd = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    c, numpy = kernel("c"), kernel("numpy")
    fixture = Path(__file__).parent.parent / "fixtures/logs/en_US/STProxyServer/SystemOut.log"
    base = fixture.read_bytes()[:200_000]
    deadline, count = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        kind = rnd.random()
        if kind < 0.4:
            data = b"".join(rnd.choice(PIECES) for _ in range(rnd.randint(0, 60)))
        elif kind < 0.7:
            start = rnd.randrange(len(base))
            mutated = bytearray(base[start : start + rnd.randint(0, 3000)])
            for _ in range(rnd.randint(0, 10)):
                if mutated:
                    mutated[rnd.randrange(len(mutated))] = rnd.randrange(256)
            data = bytes(mutated)
        else:
            data = rnd.randbytes(rnd.randint(0, 200))
        data += b"\n"
        before, after = rnd.randbytes(rnd.randint(0, 5)), rnd.randbytes(rnd.randint(0, 5))
        buffer, begin = before + data + after, len(before)
        want = rnd.random() < 0.5
        got = c.index(buffer, begin, begin + len(data), want)
        expected = numpy.index(buffer, begin, begin + len(data), want)
        if got != expected:
            print(f"kernels differ on {data!r}:\n c     {got!r}\n numpy {expected!r}")
            sys.exit(1)
        count += 1
    print(f"fuzz_kernels: {count} inputs, C and numpy kernels equal")


if __name__ == "__main__":
    main()
