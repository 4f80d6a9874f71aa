"""Time from Ctrl-C (SIGINT) to the exit of `evsim run` (issue 14): starts the CLI on an input, sends SIGINT after
a delay, prints the exit status, the seconds from the signal to the exit and what the CLI wrote on stderr.

    python benchmarks/interrupt.py MODEL INPUT DELAY_S [evsim run options...]
    python benchmarks/interrupt.py examples/data/digits_snntorch.nir many.npz 6 --dialect snntorch

(``many.npz``: e.g. the digits tiled 60 times, ``np.savez("many.npz", x=np.tile(x, (60, 1, 1)))``.)
"""

import signal
import subprocess
import sys
import time


def main() -> None:
    model, inp, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
    cmd = [sys.executable, "-m", "evsim", "run", model, "--input", inp, "--no-progress", *sys.argv[4:]]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(delay)
    if p.poll() is not None:
        print("finished before the signal", p.returncode)
        return
    t0 = time.perf_counter()
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    print(f"rc={p.returncode} exit_after={time.perf_counter() - t0:.3f}s stderr={err.decode().strip()!r}")


if __name__ == "__main__":
    main()
