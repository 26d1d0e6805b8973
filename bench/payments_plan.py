"""The payments bench's steps, as h2load jobs: closed-loop and fixed-rate payments, and reads.

- Closed loop (``closed``): N connections, each an h2load process with one request in flight,
  sending the next payment as soon as the last one is answered. Raising N until the rate
  stops rising finds the maximum. Each process sends a fixed number of payments, sized from
  the rate the caller expects (``expect_rps``) to outlast the step.
- Fixed rate (``open_rate``): one connection sending at a set rate (h2load --rps), evenly
  spaced, with up to ``OPEN_STREAMS`` requests in flight, so a slow answer does not hold the
  next request back as it would in a closed loop. One connection, because h2load paces each
  connection on its own timer: several connections started together send in bursts of as
  many requests at once, and the step would measure the bursts' queueing, not the rate.
- Reads (``read``): one h2load process, N connections, the same GET again and again for the
  step's duration: the stack's cheapest authenticated reads, the yardstick the issue
  compares payments with.

Every payment job gets its own key list and its own amount (``BASE_AMOUNT_MINOR + 1 + i``).
A step may be run again (``attempt``) when something else disturbed it: the attempt's files and
keys are its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.payments_data import BASE_AMOUNT_MINOR, PAYMENTS_PATH, BenchMerchant, write_body
from bench.payments_load import Job, requests_for, write_uris
from bench.payments_steps import TAIL_S, Step, Timing

OPEN_STREAMS = 64


@dataclass(frozen=True)
class Planner:
    """What every step is built from."""

    workdir: Path
    rest_url: str
    merchant: BenchMerchant
    timing: Timing
    tag: str
    """Makes this run's idempotency keys unlike any other run's."""

    @property
    def seconds(self) -> float:
        return self.timing.warmup_s + self.timing.duration_s + TAIL_S

    def _payment_job(self, step: str, i: int, keys: int, rps: float, streams: int) -> Job:
        """Process ``i`` of ``step`` (its directory name): ``keys`` payments, each with a key
        of its own."""
        stepdir = self.workdir / step
        stepdir.mkdir(parents=True, exist_ok=True)
        uri_file = stepdir / f"p{i}.uris"
        names = [f"{self.tag}-{step}-{i}-{n}" for n in range(keys)]
        count = write_uris(uri_file, self.rest_url, PAYMENTS_PATH, names)
        body = write_body(stepdir / f"p{i}.json", BASE_AMOUNT_MINOR + 1 + i)
        headers = {**self.merchant.headers(), "content-type": "application/json"}
        return Job(f"p{i}", f"{self.rest_url}{PAYMENTS_PATH}", headers, clients=1,
                   streams=streams, rps=rps, uri_file=uri_file, uri_count=count,
                   body_file=body, requests=keys)  # fmt: skip

    def closed(
        self, connections: int, expect_rps: float, key: str = "", *, attempt: int = 1
    ) -> Step:
        key = key or f"pay-c{connections}"
        name = dirname(key, attempt)
        keys = requests_for(expect_rps, self.seconds, connections)
        jobs = tuple(self._payment_job(name, i, keys, 0.0, 1) for i in range(connections))
        what = f"POST {PAYMENTS_PATH}, {connections} in flight"
        return Step(key, "closed", what, jobs, name=name)

    def open_rate(self, key: str, rate_rps: float, *, attempt: int = 1) -> Step:
        name = dirname(key, attempt)
        keys = requests_for(rate_rps, self.seconds, 1, spare=1.0)
        job = self._payment_job(name, 0, keys, rate_rps, OPEN_STREAMS)
        what = f"POST {PAYMENTS_PATH} at {rate_rps:,.1f}/s (1 connection, paced)"
        return Step(key, "open", what, (job,), target_rps=rate_rps, name=name)

    def read(
        self, key: str, path: str, connections: int, label: str = "", *, attempt: int = 1
    ) -> Step:
        job = Job(key, f"{self.rest_url}{path}", self.merchant.headers(), clients=connections)
        what = f"GET {label or path}, {connections} in flight"
        return Step(key, "read", what, (job,), name=dirname(key, attempt))


def dirname(key: str, attempt: int) -> str:
    """Where attempt ``attempt`` of step ``key`` keeps its files, and what its idempotency
    keys start with: a repeated step must never send a key of the first one."""
    return key if attempt == 1 else f"{key}.{attempt}"
