"""Another program on the machine: takes SHARE of one core (busy SHARE of every 15 ms, asleep the rest)
at normal priority, until killed. `run.py --steal 0.33` starts one per core, so the load test can show
its figures on a machine that has a third less to give, whatever the host's own speed that hour."""
import sys
import time

PERIOD = 0.015

if __name__ == "__main__":
    share = float(sys.argv[1])
    if not 0 < share < 1:
        sys.exit("SHARE is a fraction of a core, between 0 and 1")
    while True:
        busy_until = time.perf_counter() + share * PERIOD
        while time.perf_counter() < busy_until:
            pass
        time.sleep((1 - share) * PERIOD)
