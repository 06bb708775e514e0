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

Each worker is a fresh interpreter started with `python -c` (no fork(2) of a threaded process, whose locks
may be held by threads that do not exist in the child; and, unlike multiprocessing's `spawn`, no second run
of the caller's main module) and exits when its pipe closes, so it never outlives the process that started
it. A worker that dies (SIGKILL, the OOM killer) fails the call it was
serving with WorkerLostError — its replies are lost, so the caller returns nothing of that batch — and is
replaced when next needed; a worker that died while idle is replaced before it is given work.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key

from ca import errors
from ca.errors import PKIError, SigningError
from ca.x509.csr import CheckedCSR, checked_csr
from ca.x509.signer import ca_public_key
from ca.x509.tbs_template import key_family

CHUNK = 32  # certificates per round trip: ~1 % of their CPU time goes to the pipe, and two callers interleave
REPLY_TIMEOUT_S = 120.0  # a chunk takes milliseconds; a worker silent this long is killed and replaced
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
    SubjectPublicKeyInfo DER, that DER's SHA-256 (the key's identity, ca.x509.keycheck.spki_sha256) and the
    key's family ("ec" or "rsa")."""

    spki_der: bytes
    spki_sha256: str
    family: str


# --- the worker side ----------------------------------------------------------------------------------------
def _refusal(error: PKIError) -> tuple[str, str, str]:
    return ("err", type(error).__name__, str(error))


def checked_key(csr: CheckedCSR) -> CheckedKey:
    return CheckedKey(csr.spki_der, csr.spki_sha256, key_family(ca_public_key(csr.public_key)))


def check_csr_item(data: bytes) -> tuple[Any, ...]:
    """One CSR as the in-thread path checks it (format, size, proof of possession, key quality)."""
    try:
        key = checked_key(checked_csr(data))
    except PKIError as error:
        return _refusal(error)
    return ("ok", key.spki_der, key.spki_sha256, key.family)


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
        from ca.issuer import load_signer
        from ca.secrets import read_passphrase

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
    from ca.x509.signing import sign_tbs_der

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
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the directory holding the `ca` package
_ENTRY = "import sys; from ca.x509.signing_pool import serve_fd; serve_fd(int(sys.argv[1]), sys.argv[2])"


@dataclass(eq=False)
class _Worker:
    process: subprocess.Popen[bytes]
    connection: Connection

    def alive(self) -> bool:
        return self.process.poll() is None


def _error_of(item: tuple[Any, ...]) -> PKIError:
    return _ERRORS.get(item[1], SigningError)(item[2])


class SigningPool:
    """`processes` workers started on first use; thread-safe: concurrent callers share the workers, each
    chunk going to the first one free (so one caller's chunks run while another caller does its Python)."""

    def __init__(self, processes: int, passphrase_file: Path, *, chunk: int = CHUNK) -> None:
        if processes < 1:
            raise ValueError("a signing pool needs at least one process")
        self.processes = processes
        self.pid = os.getpid()  # a pool inherited through fork(2) is not used (its pipes are the parent's)
        self._passphrase_file = str(passphrase_file)
        self._chunk = chunk
        self._idle: list[_Worker] = []
        self._live = 0
        self._closed = False
        self._condition = threading.Condition()

    # ~ public ~
    def check_csrs(self, csrs: Sequence[bytes]) -> list[CheckedKey | PKIError]:
        """Each CSR's CheckedKey or its own refusal (a BadCSRError), in order."""
        return [CheckedKey(item[1], item[2], item[3]) if item[0] == "ok" else _error_of(item)
                for item in self._map(lambda chunk: ("csr", chunk), csrs)]

    def sign(self, key_ref: str, issuer_spki: bytes, tbs_list: Sequence[bytes]) -> list[bytes | PKIError]:
        """Each TBS's signed certificate DER — signed with the key file `key_ref`, its signature verified over
        exactly those bytes with the key of the issuer certificate whose SubjectPublicKeyInfo is
        `issuer_spki` — or its own SigningError, in order. WorkerLostError when a worker died meanwhile."""
        return [item[1] if item[0] == "ok" else _error_of(item)
                for item in self._map(lambda chunk: ("sign", key_ref, issuer_spki, chunk), tbs_list)]

    def worker_pids(self) -> list[int]:
        """The pids of the idle workers (for operators and drills)."""
        with self._condition:
            return [worker.process.pid for worker in self._idle]

    def close(self) -> None:
        """Close the pipes of the idle workers (they exit) and retire the busy ones when they are handed back."""
        with self._condition:
            self._closed = True
            idle, self._idle = self._idle, []
            self._live -= len(idle)
            self._condition.notify_all()
        for worker in idle:
            _stop(worker, kill=False)

    @property
    def closed(self) -> bool:
        return self._closed

    # ~ dispatch ~
    def _map(self, message: Callable[[list[Any]], tuple[Any, ...]], items: Sequence[Any]) -> list[tuple[Any, ...]]:
        if not items:
            return []
        chunks = [list(items[start:start + self._chunk]) for start in range(0, len(items), self._chunk)]
        replies: list[list[tuple[Any, ...]] | None] = [None] * len(chunks)
        waiting = list(range(len(chunks) - 1, -1, -1))  # a stack: chunk 0 is sent first
        busy: dict[Connection, tuple[_Worker, int]] = {}
        failure: PKIError | None = None
        try:
            while waiting or busy:
                while waiting and failure is None:
                    worker = self._take(block=not busy)
                    if worker is None:
                        break
                    index = waiting.pop()
                    try:
                        worker.connection.send(message(chunks[index]))
                    except (OSError, ValueError):  # it died idle: nothing was sent, the chunk goes to another
                        self._retire(worker)
                        waiting.append(index)
                        continue
                    busy[worker.connection] = (worker, index)
                if not busy:
                    break
                ready = wait(list(busy), timeout=REPLY_TIMEOUT_S)
                if not ready:
                    for worker, _index in list(busy.values()):
                        self._retire(worker)
                    busy.clear()
                    raise WorkerLostError(f"a signing process did not answer within {REPLY_TIMEOUT_S:.0f} s; "
                                          "it was stopped")
                for connection in ready:
                    assert isinstance(connection, Connection)
                    worker, index = busy.pop(connection)
                    try:
                        reply = connection.recv()
                    except (EOFError, OSError):
                        code = self._retire(worker)
                        failure = failure or WorkerLostError(f"signing process {worker.process.pid} died "
                                                             f"({_how(code)}) during the call")
                        continue
                    self._hand_back(worker)
                    if isinstance(reply, list) and len(reply) == len(chunks[index]):
                        replies[index] = reply
                    else:
                        failure = failure or SigningError(f"a signing process failed: {reply[1]}")
        finally:
            for worker, _index in busy.values():  # an exception left replies unread: those workers are retired
                self._retire(worker)
        if failure is not None:
            raise failure
        return [item for reply in replies if reply is not None for item in reply]

    def _take(self, *, block: bool) -> _Worker | None:
        """An idle live worker, a new one while fewer than `processes` live, else (blocking) the next one
        handed back; None when `block` is False and none is free."""
        spawn = False
        with self._condition:
            while True:
                if self._closed:
                    raise SigningError("the signing pool is closed")
                if self._idle:
                    worker = self._idle.pop()
                    if worker.alive():
                        return worker
                    self._live -= 1  # died while idle: replaced below
                    _stop(worker, kill=True)
                    continue
                if self._live < self.processes:
                    self._live += 1
                    spawn = True
                    break
                if not block:
                    return None
                self._condition.wait()
        assert spawn
        try:
            return self._spawn()
        except BaseException:
            with self._condition:
                self._live -= 1
                self._condition.notify()
            raise

    def _spawn(self) -> _Worker:
        """A fresh interpreter (`python -c`: nothing of this process is forked, and no main module is imported
        again, unlike multiprocessing's `spawn`) given one end of a socket pair; `ca` is importable from where
        this process imported it."""
        ours, theirs = socket.socketpair()
        try:
            environment = dict(os.environ)
            environment["PYTHONPATH"] = os.pathsep.join(
                [_PACKAGE_ROOT] + [part for part in [environment.get("PYTHONPATH")] if part])
            process = subprocess.Popen(
                [sys.executable, "-c", _ENTRY, str(theirs.fileno()), self._passphrase_file],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=environment)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # the worker's end lives in the worker only: its death closes the pipe
        return _Worker(process, Connection(ours.detach()))

    def _hand_back(self, worker: _Worker) -> None:
        with self._condition:
            if self._closed:
                self._live -= 1
                closing = True
            else:
                self._idle.append(worker)
                closing = False
            self._condition.notify()
        if closing:
            _stop(worker, kill=False)

    def _retire(self, worker: _Worker) -> int | None:
        """Stop a worker whose state is unknown (dead, silent, or replies left unread); a new one replaces it."""
        code = _stop(worker, kill=True)
        with self._condition:
            self._live -= 1
            self._condition.notify()
        return code


def _stop(worker: _Worker, *, kill: bool) -> int | None:
    worker.connection.close()
    if kill and worker.alive():
        worker.process.kill()
    try:
        return worker.process.wait(timeout=5)
    except subprocess.TimeoutExpired:  # it did not exit when its pipe closed
        worker.process.kill()
        return worker.process.wait()


def _how(code: int | None) -> str:
    if code is None:
        return "still running, stopped"
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


def _forget(key: int, pool: SigningPool) -> None:
    with _POOLS_LOCK:
        if _POOLS.get(key) is pool:
            del _POOLS[key]
    if pool.pid == os.getpid():
        pool.close()


def spki_of(public_key: CertificateIssuerPublicKeyTypes) -> bytes:
    return public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


__all__ = ["CHUNK", "CheckedKey", "SigningPool", "WorkerLostError", "pool_for", "spki_of"]
