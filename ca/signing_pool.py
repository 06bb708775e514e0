"""Signing worker processes for batch issuance (issue 14 §1, `ca.issuance.issue_many`).

The public-key work of a certificate — its CSR's proof of possession (RFC 2986 §3: the self-signature) and
key checks, then the signature of its TBSCertificate and the verification of that signature (RFC 5280
§4.1.1.3) — is most of its CPU time, and `cryptography` holds the GIL for much of a P-256 operation, so one
process cannot use a second core for it. A `SigningPool` runs that work in a few worker processes, in chunks
(one pipe round trip per chunk, not per certificate).

What crosses a pipe: CSR bytes one way, their SubjectPublicKeyInfo (RFC 5280 §4.1.2.7), its SHA-256 and key
family — or the refusal — back; TBS bytes one way, the signed certificate's DER — or the refusal — back.
Never a private key: each worker decrypts the issuer key itself from its encrypted PKCS#8 file with the
passphrase file (ca.keys.filekey), and only `file:` keys are signed here — a PKCS#11 key stays on its token
and is used in the caller's thread. A worker runs the very checks of the in-thread path
(ca.x509.csr.checked_csr, ca.x509.signing.sign_tbs) and verifies each signature with the public key of the
issuer *certificate*, having refused a key file that is not that certificate's key.

Each worker is a fresh interpreter started with `python -P -c` (no fork(2) of a threaded process, whose locks
may be held by threads that do not exist in the child; and, unlike multiprocessing's `spawn`, no second run
of the caller's main module) and exits when its socket closes, so it never outlives the process that started
it. A worker that dies (SIGKILL, the OOM killer) fails the calls whose chunks it held with WorkerLostError —
their replies are lost, so the caller returns nothing of that batch — and is replaced when next needed; a
worker that died while idle is reaped at once and replaced before any work is given to it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key

from ca import errors
from ca.errors import PKIError, SigningError
from ca.issuer import load_signer
from ca.secrets import read_passphrase
from ca.x509.csr import CheckedCSR
from ca.x509.csr import checked_key as csr_key
from ca.x509.signer import ca_public_key
from ca.x509.signing import sign_tbs_der
from ca.x509.tbs_template import key_family, ski_digest

CHUNK = 32  # certificates per round trip: ~1 % of their CPU time goes to the pipe, and two callers interleave
REPLY_TIMEOUT_S = 120.0  # a chunk takes milliseconds; a call with no answer for this long: its workers are killed
# The errors a worker may answer for one item; anything else it reports is a SigningError.
_ERRORS: dict[str, type[PKIError]] = {cls.__name__: cls for cls in (
    errors.BadCSRError, errors.BadRequestError, errors.NotAuthorizedError, errors.NotFoundError,
    errors.SigningError)}


class WorkerLostError(SigningError):
    """A signing process died or stopped answering while it held part of a call: what it was doing is
    lost, so the caller must not hand out anything of that call."""


@dataclass(frozen=True, slots=True)
class CheckedKey:
    """What a batch needs of a CSR that passed every check (ca.x509.csr.checked_csr): its key's
    SubjectPublicKeyInfo DER, that DER's SHA-256 (the key's identity, ca.x509.keycheck.spki_sha256), the
    key's family ("ec" or "rsa") and the keyIdentifier its certificate carries (RFC 5280 §4.2.1.2)."""

    spki_der: bytes
    spki_sha256: str
    family: str
    ski: bytes  # its subjectKeyIdentifier (ca.x509.tbs_template.ski_digest), hashed where the key was checked


# --- the worker side ----------------------------------------------------------------------------------------
def _refusal(error: PKIError) -> tuple[str, str, str]:
    return ("err", type(error).__name__, str(error))


def checked_key(csr: CheckedCSR) -> CheckedKey:
    return CheckedKey(csr.spki_der, csr.spki_sha256, key_family(ca_public_key(csr.public_key)),
                      ski_digest(csr.spki_der))


def check_csr_item(data: bytes) -> tuple[Any, ...]:
    """One CSR as the in-thread path checks it (ca.x509.csr: format, size, proof of possession, key quality)."""
    try:
        key, spki, spki_sha256 = csr_key(data)
    except PKIError as error:
        return _refusal(error)
    return ("ok", spki, spki_sha256, key_family(ca_public_key(key)), ski_digest(spki))


class _Keys:
    """The worker's issuer keys, each loaded once from its file and checked against its certificate's key."""

    def __init__(self, passphrase_file: Path) -> None:
        self._passphrase_file = passphrase_file
        self._loaded: dict[tuple[str, bytes], tuple[Any, CertificateIssuerPublicKeyTypes]] = {}

    def get(self, key_ref: str, issuer_spki: bytes) -> tuple[Any, CertificateIssuerPublicKeyTypes]:
        loaded = self._loaded.get((key_ref, issuer_spki))
        if loaded is None:
            loaded = self._loaded[(key_ref, issuer_spki)] = self._load(key_ref, issuer_spki)
        return loaded

    def _load(self, key_ref: str, issuer_spki: bytes) -> tuple[Any, CertificateIssuerPublicKeyTypes]:
        if not key_ref.startswith("file:"):
            raise SigningError("a signing process signs only with key files; this key is signed in-thread")
        signer = load_signer(key_ref, passphrase=read_passphrase(self._passphrase_file))
        spki = signer.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        if spki != issuer_spki:
            raise SigningError(f"the key file {key_ref.removeprefix('file:')} is not the key of the issuer "
                               "certificate; nothing was signed")
        return signer, ca_public_key(load_der_public_key(issuer_spki))


def sign_items(keys: _Keys, key_ref: str, issuer_spki: bytes, tbs_list: Sequence[bytes]) -> list[tuple[Any, ...]]:
    """Each TBS signed and checked by ca.x509.signing.sign_tbs, verified with the issuer certificate's key."""
    try:
        signer, verify_key = keys.get(key_ref, issuer_spki)
    except PKIError as error:  # not kept: the next call reads the key file and the passphrase again
        return [_refusal(error)] * len(tbs_list)
    out: list[tuple[Any, ...]] = []
    for tbs in tbs_list:
        try:
            out.append(("ok", sign_tbs_der(tbs, signer, verify_key)))
        except PKIError as error:
            out.append(_refusal(error))
        except ValueError as error:  # the signed bytes do not parse as a certificate: this one is refused
            out.append(_refusal(SigningError(f"the signed TBS bytes are not a certificate ({error}); "
                                             "nothing was issued")))
    return out


def _serve(connection: Connection, passphrase_file: str) -> None:
    """A worker's loop: one request, one reply (a list, one entry per item; or ("fail", why) for the whole
    request); it returns when the pipe closes (the parent closed it, exited or died)."""
    keys = _Keys(Path(passphrase_file))
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        reply: Any
        try:
            if request[0] == "csr":
                reply = [check_csr_item(data) for data in request[1]]
            elif request[0] == "sign":
                reply = sign_items(keys, request[1], request[2], request[3])
            else:
                reply = ("fail", f"unknown request {request[0]!r}")
        except Exception as error:  # noqa: BLE001  (the reply says so, the caller raises; the worker stays usable)
            reply = ("fail", f"{type(error).__name__}: {error}")
        connection.send(reply)


def serve_fd(fd: int, passphrase_file: str) -> None:
    """A worker process's entry (`python -c`, see SigningPool._spawn): serve the socket `fd` until it closes.
    Ctrl-C reaches the whole terminal's process group: the worker leaves it to its parent, which closes the
    pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _serve(Connection(fd), passphrase_file)


# --- the caller side ----------------------------------------------------------------------------------------
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])  # the directory holding the `ca` package
_ENTRY = "import sys; from ca.signing_pool import serve_fd; serve_fd(int(sys.argv[1]), sys.argv[2])"


class _Call:
    """One `_map`: its chunks, their replies as they arrive, and the first failure."""

    def __init__(self, chunks: list[list[Any]]) -> None:
        self.chunks = chunks
        self.replies: list[list[tuple[Any, ...]] | None] = [None] * len(chunks)
        self.remaining = len(chunks)
        self.failure: PKIError | None = None
        self.workers: set[_Worker] = set()  # those that hold or held one of its chunks
        self.progress = time.monotonic()  # when a chunk was last sent or answered

    def deliver(self, index: int, reply: Any) -> None:
        if isinstance(reply, list) and len(reply) == len(self.chunks[index]):
            self.replies[index] = reply
        elif self.failure is None:
            why = reply[1] if isinstance(reply, tuple) and len(reply) == 2 else "malformed reply"
            self.failure = SigningError(f"a signing process failed: {why}")
        self.remaining -= 1
        self.progress = time.monotonic()

    def fail(self, error: PKIError) -> None:
        if self.failure is None:
            self.failure = error
        self.remaining -= 1


@dataclass(eq=False)
class _Worker:
    """A worker process, its socket, and the chunks sent to it whose replies have not come back, in order."""

    process: subprocess.Popen[bytes]
    sock: socket.socket
    connection: Connection
    pending: deque[tuple[_Call, int]] = field(default_factory=deque)
    outstanding: int = 0  # items of `pending`
    dead: bool = False
    send_lock: threading.Lock = field(default_factory=threading.Lock)


class SigningPool:
    """`processes` workers, started when first needed; thread-safe. Every chunk of a call is sent at once, to
    the workers with the least outstanding work, so a worker always has the next chunk waiting in its socket
    — another caller's, when this one has no more — and never waits for a caller's thread to be scheduled.
    One reader thread per worker hands each reply to its call (a worker answers in order)."""

    def __init__(self, processes: int, passphrase_file: Path, *, chunk: int = CHUNK) -> None:
        if processes < 1:
            raise ValueError("a signing pool needs at least one process")
        self.processes = processes
        self.pid = os.getpid()  # a pool inherited through fork(2) is not used (its sockets are the parent's)
        self._passphrase_file = str(passphrase_file)
        self._chunk = chunk
        self._workers: list[_Worker] = []
        self._closed = False
        self._condition = threading.Condition()

    # ~ public ~
    def check_csrs(self, csrs: Sequence[bytes]) -> list[CheckedKey | PKIError]:
        """Each CSR's CheckedKey or its own refusal (a BadCSRError), in order."""
        return [CheckedKey(item[1], item[2], item[3], item[4]) if item[0] == "ok" else _error_of(item)
                for item in self._map(lambda chunk: ("csr", chunk), csrs)]

    def sign(self, key_ref: str, issuer_spki: bytes, tbs_list: Sequence[bytes]) -> list[bytes | PKIError]:
        """Each TBS's signed certificate DER — signed with the key file `key_ref`, its signature verified over
        exactly those bytes with the key of the issuer certificate whose SubjectPublicKeyInfo is
        `issuer_spki` — or its own SigningError, in order. WorkerLostError when a worker died meanwhile."""
        return [item[1] if item[0] == "ok" else _error_of(item)
                for item in self._map(lambda chunk: ("sign", key_ref, issuer_spki, chunk), tbs_list)]

    def worker_pids(self) -> list[int]:
        """The pids of the live workers (for operators and drills)."""
        with self._condition:
            return [worker.process.pid for worker in self._workers]

    def close(self) -> None:
        """Shut the workers' sockets: they exit, and their reader threads reap them."""
        with self._condition:
            self._closed = True
            workers = list(self._workers)
        for worker in workers:
            _shutdown(worker)

    @property
    def closed(self) -> bool:
        return self._closed

    # ~ dispatch ~
    def _map(self, message: Callable[[list[Any]], tuple[Any, ...]], items: Sequence[Any]) -> list[tuple[Any, ...]]:
        if not items:
            return []
        call = _Call([list(items[start:start + self._chunk]) for start in range(0, len(items), self._chunk)])
        for index, chunk in enumerate(call.chunks):
            self._submit(call, index, message(chunk))
        call.progress = time.monotonic()
        with self._condition:
            while call.remaining:
                left = call.progress + REPLY_TIMEOUT_S - time.monotonic()
                if left <= 0:  # silent workers are killed: their readers fail what they held, this call's too
                    if call.failure is None:
                        call.failure = WorkerLostError(f"a signing process did not answer within "
                                                       f"{REPLY_TIMEOUT_S:.0f} s; it was stopped")
                    for worker in call.workers:
                        if not worker.dead:
                            worker.process.kill()
                    call.progress = time.monotonic()
                    continue
                self._condition.wait(left)
        if call.failure is not None:
            raise call.failure
        return [item for reply in call.replies if reply is not None for item in reply]

    def _submit(self, call: _Call, index: int, message: tuple[Any, ...]) -> None:
        size = len(call.chunks[index])
        while True:
            worker = self._pick()
            with worker.send_lock:  # sends and `pending` in the same order: the worker answers in that order
                with self._condition:
                    if worker.dead:
                        continue
                    worker.pending.append((call, index))
                    worker.outstanding += size
                    call.workers.add(worker)
                try:
                    worker.connection.send(message)
                except (OSError, ValueError):  # it died: its reader fails what it held, this chunk included
                    _shutdown(worker)
                return

    def _pick(self) -> _Worker:
        """The live worker with the least outstanding work, or a new one while fewer than `processes` live
        and none is idle."""
        with self._condition:
            if self._closed:
                raise SigningError("the signing pool is closed")
            live = [worker for worker in self._workers if not worker.dead]
            idle = [worker for worker in live if not worker.outstanding]
            if idle:
                return idle[0]
            if len(live) < self.processes:
                worker = self._spawn()
                self._workers.append(worker)
                return worker
            return min(live, key=lambda worker: worker.outstanding)

    def _spawn(self) -> _Worker:
        """A fresh interpreter (`python -P -c`: nothing of this process is forked, and no main module is imported
        again, unlike multiprocessing's `spawn`) given one end of a socket pair; it imports `ca` from where this
        process did (PYTHONPATH first, the working directory not at all: -P)."""
        ours, theirs = socket.socketpair()
        try:
            environment = dict(os.environ)
            environment["PYTHONPATH"] = os.pathsep.join(
                [_PACKAGE_ROOT] + [part for part in [environment.get("PYTHONPATH")] if part])
            process = subprocess.Popen(
                [sys.executable, "-P", "-c", _ENTRY, str(theirs.fileno()), self._passphrase_file],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=environment)
        except OSError as error:
            ours.close()
            raise SigningError(f"cannot start a signing process ({error}); nothing was signed") from None
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # the worker's end lives in the worker only: its death closes the socket
        worker = _Worker(process, ours, Connection(os.dup(ours.fileno())))
        threading.Thread(target=self._read, args=(worker,), name=f"pki-signing-reader-{process.pid}",
                         daemon=True).start()
        return worker

    def _read(self, worker: _Worker) -> None:
        """Hand each reply to its call; at EOF (the worker died, was killed or shut down) reap the process
        and fail every chunk it still held."""
        while True:
            try:
                reply = worker.connection.recv()
            except (EOFError, OSError):
                break
            except Exception:  # noqa: BLE001  (an unreadable reply: the worker is not trusted any more)
                worker.process.kill()
                break
            with self._condition:
                call, index = worker.pending.popleft()
                worker.outstanding -= len(call.chunks[index])
                call.deliver(index, reply)
                self._condition.notify_all()
        code = _reap(worker)
        with self._condition:
            worker.dead = True
            if worker in self._workers:
                self._workers.remove(worker)
            lost = WorkerLostError(f"signing process {worker.process.pid} died ({_how(code)}) during the call")
            for call, _index in worker.pending:
                call.fail(lost)
            worker.pending.clear()
            worker.outstanding = 0
            self._condition.notify_all()
        worker.connection.close()
        worker.sock.close()


def _error_of(item: tuple[Any, ...]) -> PKIError:
    return _ERRORS.get(item[1], SigningError)(item[2])


def _shutdown(worker: _Worker) -> None:
    """Shut the socket both ways: the worker reads EOF and exits, the reader thread wakes up and reaps it."""
    try:
        worker.sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _reap(worker: _Worker) -> int | None:
    try:
        return worker.process.wait(timeout=5)
    except subprocess.TimeoutExpired:  # it did not exit when its socket closed
        worker.process.kill()
        return worker.process.wait()


def _how(code: int | None) -> str:
    if code is None:
        return "still running"
    if code == 0:
        return "exited"
    return f"signal {-code}" if code < 0 else f"exit status {code}"


# --- one pool per owner (a Runtime), closed when the owner is garbage-collected ------------------------------
_POOLS: dict[int, SigningPool] = {}
_POOLS_LOCK = threading.Lock()


def pool_for(owner: object, processes: int, passphrase_file: Path) -> SigningPool:
    """The pool of `owner`, made on first use (its workers start when first needed)."""
    with _POOLS_LOCK:
        pool = _POOLS.get(id(owner))
        if pool is None or pool.closed or pool.pid != os.getpid():
            pool = _POOLS[id(owner)] = SigningPool(processes, passphrase_file)
            weakref.finalize(owner, _forget, id(owner), pool)
        return pool


def pool_of(owner: object) -> SigningPool | None:
    """The pool `pool_for` made for `owner` in this process, if any."""
    with _POOLS_LOCK:
        pool = _POOLS.get(id(owner))
    return pool if pool is not None and pool.pid == os.getpid() else None


def release(owner: object) -> None:
    """Close the pool of `owner` now (its workers exit) rather than when `owner` is garbage-collected."""
    with _POOLS_LOCK:
        pool = _POOLS.pop(id(owner), None)
    if pool is not None and pool.pid == os.getpid():
        pool.close()


def _forget(key: int, pool: SigningPool) -> None:
    with _POOLS_LOCK:
        if _POOLS.get(key) is pool:
            del _POOLS[key]
    if pool.pid == os.getpid():
        pool.close()


__all__ = ["CHUNK", "CheckedKey", "SigningPool", "WorkerLostError", "pool_for", "pool_of", "release"]
