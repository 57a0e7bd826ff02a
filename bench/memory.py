"""Memory of the appliance's services against the goal, and each choice behind it beside its alternative.

    python bench/memory.py [--travellers 3]

Goal (issue 20): all services together <= 300 MB by PSS (shared pages split among their users: what the
processes cost a board), so a 1 GB board serves. On this machine, in one run, fresh processes each:
1. SFace's runtime: ONNX Runtime (the default) against OpenCV DNN: PSS and anonymous memory of a process
   holding the face analyzer after embedding the same faces, and the time per embedding (both runtimes
   in one process, interleaved, the same crops, the same warm-up).
2. NBIS: one thread that hands back what libnbis holds unused (the default) against the library as it
   comes, called from three threads (as the lane, the booth and a simulator would): the same prints.
3. The post: the largest PSS of `borderpost simulate --offline` (the station's lane, its simulated devices,
   the face models; with the example config's two fingers and with none), sampled every 0.1 s, plus a
   `borderpost uplink` process connected to a real mosquitto beside it.
The booted guest's own figures (one process per service) come from `bench/image.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_MB = 300.0
FACES = ["a1", "a2", "a3", "b1", "astronaut"]

_FACE = """
import json, sys
from bench.memory import smaps
from edge.biometrics.face import FaceAnalyzer, FaceConfig
from edge.heap import release_free_heap
from tests.fixtures import face_images
a = FaceAnalyzer(FaceConfig(onnx_runtime=sys.argv[1]))
for _ in range(3):
    for name in sys.argv[2:]:
        a.embedding(face_images.load(name))
release_free_heap()
print(json.dumps(smaps()))
"""

_FACE_TIME = """
import json, statistics, sys, time
import cv2
from edge.biometrics.face import FaceConfig, matching, models, runtime_onnxruntime, runtime_opencv
from edge.biometrics.face.detection import Detector
from tests.fixtures import face_images
d = models.models_dir()
cv2.setNumThreads(1)
det = Detector(runtime_opencv.load_detector(str(models.check_file("detector", d)), FaceConfig().detector_score))
rec = str(models.check_file("recogniser", d))
runtimes = {"onnxruntime": runtime_onnxruntime.Recogniser(rec), "opencv": runtime_opencv.load_recogniser(rec)}
crops = []
for name in sys.argv[1:]:
    img = face_images.load(name)
    crops.append(matching.align(img, det.detect(img)[0]))
times = {k: [] for k in runtimes}
for k, r in runtimes.items():
    r.feature(crops[0])
for _ in range(20):
    for k, r in runtimes.items():
        for c in crops:
            t = time.perf_counter(); r.feature(c); times[k].append(time.perf_counter() - t)
print(json.dumps({k: statistics.median(v) * 1e3 for k, v in times.items()}))
"""

_NBIS = """
import json, sys, threading
import cv2
from bench.memory import smaps
from edge.biometrics.finger import match, nfiq2
from tests.fingerprints.conftest import REAL
prints = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in REAL]
one = sys.argv[1] == "one"
workers = [nfiq2._NbisThread(hand_back=one) for _ in range(1 if one else 3)]
mine = threading.local()          # each caller's NBIS thread: its own (as the library comes) or the shared one
nfiq2.on_nbis_thread = lambda fn: mine.worker.run(fn)
def caller(i):
    mine.worker = workers[i % len(workers)]
    scores = [nfiq2.assess(p).score for p in prints]
    t = [match.template(p) for p in prints]
    return scores, match.verify(t[0], t[1]).score
results = []
threads = [threading.Thread(target=lambda i=i: results.append(caller(i))) for i in range(3)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"results": sorted(map(str, results)), **smaps()}))
"""


def _python(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, check=True, capture_output=True,
                         text=True, timeout=900).stdout
    return json.loads(out.strip().splitlines()[-1])


def smaps(pid: int | str = "self") -> dict[str, float]:
    """PSS and its anonymous part (MB) of one process, from /proc/PID/smaps_rollup; zeros once it is gone."""
    fields = {"Pss": 0.0, "Pss_Anon": 0.0}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in fields:
                fields[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return fields


def _tree(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid, *(q for c in children for q in _tree(int(c)))]


def peak_pss(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float, float]:
    """(largest PSS sum of the process tree, its anonymous part, the last sample's PSS, seconds) while `cmd` runs."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak, last = (0.0, 0.0), 0.0
    while proc.poll() is None:
        samples = [smaps(p) for p in _tree(proc.pid)]
        total = (sum(s["Pss"] for s in samples), sum(s["Pss_Anon"] for s in samples))
        peak, last = max(peak, total), total[0] or last
        time.sleep(0.1)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-400:]}")
    return peak[0], peak[1], last, time.monotonic() - t0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(travellers: int, env: dict[str, str]) -> None:
    example = (ROOT / "examples" / "config.toml").read_text()
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with tempfile.TemporaryDirectory(prefix="bp-mem-") as tmp:
        port = _free_port()
        (Path(tmp) / "mosquitto.conf").write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
        broker = subprocess.Popen([mosquitto, "-c", f"{tmp}/mosquitto.conf"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        base = (example.replace('path = "/var/lib/borderpost/borderpost.db"', f'path = "{tmp}/bp.db"', 1)
                .replace('"/var/lib/borderpost/device_ed25519.pem"', f'"{tmp}/device.pem"', 1)
                .replace('url = "mqtt://127.0.0.1:1883"', f'url = "mqtt://127.0.0.1:{port}"', 1))
        configs = {"two fingers": base,
                   "no fingers": base.replace('fingerprints = ["right_index", "left_index"]', "fingerprints = []", 1)}
        for name, text in configs.items():
            (Path(tmp) / "config.toml").write_text(text)
            uplink = subprocess.Popen([sys.executable, "-m", "edge", "uplink", "--config", f"{tmp}/config.toml"],
                                      cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                pss, anon, settled, secs = peak_pss([sys.executable, "-m", "edge", "simulate", "--offline", "-n",
                                                     str(travellers), "--config", f"{tmp}/config.toml"], env)
                up = smaps(uplink.pid)["Pss"]
            finally:
                uplink.terminate()
                uplink.wait(30)
            total = pss + up
            print(f"  {name:12s} station+simulators peak {pss:6.1f} MB (anon {anon:5.1f}), after {travellers} "
                  f"travellers {settled:6.1f} ({secs:4.1f} s); uplink {up:5.1f}; peak + uplink {total:6.1f} MB, "
                  f"goal {GOAL_MB:.0f}: {'met' if total <= GOAL_MB else 'NOT met'}")
        broker.terminate()
        broker.wait(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--travellers", type=int, default=3)
    args = ap.parse_args()
    env = {**os.environ, "BORDERPOST_MODELS_DIR": os.environ.get("BORDERPOST_MODELS_DIR", str(ROOT / "models"))}
    os.environ.update(env)
    print(f"memory by PSS (MB), this machine ({os.cpu_count()} cores), {time.strftime('%Y-%m-%d %H:%M %Z')}")

    print("1. SFace runtime (face analyzer loaded, 15 embeddings, freed heap handed back)")
    times = _python(_FACE_TIME, *FACES)
    for runtime in ("onnxruntime", "opencv"):
        m = _python(_FACE, runtime, *FACES)
        print(f"  {runtime:12s} process PSS {m['Pss']:6.1f}  anon {m['Pss_Anon']:6.1f}   "
              f"embedding p50 {times[runtime]:6.1f} ms (one thread)")

    print("2. NBIS (the 3 afis prints: NFIQ 2, templates, one comparison, from 3 calling threads)")
    runs = {mode: _python(_NBIS, mode) for mode in ("one", "per-thread")}
    for mode, label in (("one", "one thread, unused memory handed back"), ("per-thread", "as the library comes")):
        print(f"  {label:40s} process PSS {runs[mode]['Pss']:6.1f}  anon {runs[mode]['Pss_Anon']:6.1f}")
    print(f"  same results: {runs['one']['results'] == runs['per-thread']['results']}")

    print("3. the simulated post")
    post(args.travellers, env)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
