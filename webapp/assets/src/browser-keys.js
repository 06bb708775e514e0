// Entry of the portal's bundle (issue 11 items 3 and 4), loaded from 'self' under a CSP without
// 'unsafe-inline' nor 'unsafe-eval'. Every element it drives says so with data attributes:
// - [data-browser-keys]: the "make my key here" form. data-submit-url is where the CSR is POSTed as
//   {"csr": PEM} (the new-request API now; the renewal API can reuse the same form), data-csrf-token the
//   session's CSRF token, data-chain-url the PKCS#7 bundle of a serial ("{serial}" is replaced),
//   data-done-url the page shown after the download.
// - [data-download-form]: a server-side form answering a file; the page shown after it is data-done-url.
// - [data-install-steps]: the install-steps page, whose system is chosen from the browser and switchable.
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";

import { buildCsr, generateKeyPair } from "./csr.js";
import { buildPfx } from "./pfx.js";

function supported() {
  return Boolean(window.isSecureContext && window.crypto && crypto.subtle && window.fetch && window.Blob);
}

// The page's words (issue 15 item 1): certificates/new.html renders them, translated, into a JSON block
// <script type="application/json" id="browser-keys-words"> (data, not code: the CSP allows no inline script).
// Each "{name}" is replaced by its value. English here is the fallback when the block is missing.
const ENGLISH = {
  making: "Making your key in this browser…",
  received: "Certificate received; building your protected file…",
  nothing: "Nothing was downloaded: {error}",
  answered: "the portal answered {status}",
  fetchFailed: "the certificate could not be fetched ({status})",
  notMine: "the certificate received is not for the key made here",
  differ: "the two passwords differ",
  tooShort: "the password must have at least {count} characters",
  tooLong: "the password must have at most {count} characters",
  tooSimple: "this password is too simple: choose another one",
  mustWait: "your request waits for an administrator, and a key made in the browser cannot wait: " +
            "the key was discarded. Once the request is decided, ask again with the simplest way.",
};
let pageWords = null;

function words(key, values = {}) {
  if (pageWords === null) {
    const block = document.getElementById("browser-keys-words");
    try {
      pageWords = block ? JSON.parse(block.textContent) : {};
    } catch (_) {
      pageWords = {};
    }
  }
  const text = typeof pageWords[key] === "string" ? pageWords[key] : ENGLISH[key];
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

function say(form, text, kind) {
  const status = form.querySelector("[data-status]");
  status.textContent = text;
  status.className = `flash ${kind}`;
  status.hidden = false;
}

function clearPasswords(form) {
  for (const input of form.querySelectorAll("input[type=password]")) input.value = "";
}

function pemToDer(pem) {
  const body = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  return Uint8Array.from(atob(body), (c) => c.charCodeAt(0)).buffer;
}

async function errorText(response) {
  try {
    const data = await response.json();
    return data.error && data.error.message ? data.error.message : words("answered", { status: response.status });
  } catch (_) {
    return words("answered", { status: response.status });
  }
}

// RFC 2315 certs-only SignedData, as /certificates/<serial>/download/p7b gives it: the certificate, its issuer and
// the root, in the DER order of a SET OF (not the chain's). The leaf is the one holding our public key.
async function fetchCertificates(url, publicKey) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(words("fetchFailed", { status: response.status }));
  const info = new pkijs.ContentInfo({ schema: asn1js.fromBER(await response.arrayBuffer()).result });
  const signed = new pkijs.SignedData({ schema: info.content });
  const spki = hex(await crypto.subtle.exportKey("spki", publicKey));
  const ders = signed.certificates.map((c) => c.toSchema().toBER(false));
  const mine = signed.certificates.findIndex((c) => hex(c.subjectPublicKeyInfo.toSchema().toBER(false)) === spki);
  if (mine < 0) throw new Error(words("notMine"));
  return { certificate: ders[mine], chain: ders.filter((_, i) => i !== mine) };
}

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

function offerDownload(bytes, filename, mediaType) {
  const url = URL.createObjectURL(new Blob([bytes], { type: mediaType }));
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

function slug(name) {
  return (name || "").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "") || "certificate";
}

function doneUrl(base, serial, kind) {
  const url = new URL(base, window.location.href);
  if (serial) url.searchParams.set("serial", serial);
  url.searchParams.set("kind", kind);
  return url.toString();
}

// The server path's rules (enrollment/accounts/passwords.py) that need no list: NFKC, 8 to 128 characters
// (code points), more than two different characters. The password never leaves the page.
function checkedPassword(form) {
  const password = form.elements.file_password.value.normalize("NFKC");
  if (password !== form.elements.file_password_confirmation.value.normalize("NFKC")) {
    throw new Error(words("differ"));
  }
  const length = [...password].length;
  const min = Number(form.elements.file_password.minLength) || 8;
  const max = Number(form.elements.file_password.maxLength) || 128;
  if (length < min) throw new Error(words("tooShort", { count: min }));
  if (length > max) throw new Error(words("tooLong", { count: max }));
  if (new Set(password.toLowerCase()).size <= 2) throw new Error(words("tooSimple"));
  return password;
}

async function makeInBrowser(form) {
  const data = form.dataset;
  const password = checkedPassword(form);
  const encryption = form.elements.file_encryption.value;
  say(form, words("making"), "info");
  const keyPair = await generateKeyPair(form.elements.file_key_type.value);
  const csr = await buildCsr(keyPair);
  const response = await fetch(data.submitUrl, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": data.csrfToken },
    body: JSON.stringify({ csr }),
  });
  if (!response.ok) throw new Error(await errorText(response));
  const answer = await response.json();
  const serial = answer.certificate_serial || answer.serial || null;
  if (!serial) {
    // Only offered where requests are approved at once; if the policy changed meanwhile, the key is dropped.
    throw new Error(words("mustWait"));
  }
  say(form, words("received"), "info");
  const { certificate, chain } = await fetchCertificates(
    data.chainUrl.replace("{serial}", encodeURIComponent(serial)), keyPair.publicKey);
  const pfx = await buildPfx({ privateKey: keyPair.privateKey, certificate, chain, password, encryption,
                               friendlyName: data.friendlyName || "Portail PKI" });
  offerDownload(pfx, `${slug(data.filenamePrefix)}-${serial.slice(0, 8)}.p12`, "application/x-pkcs12");
  clearPasswords(form);
  window.location.assign(doneUrl(data.doneUrl, serial, "browser"));
}

function setUpBrowserKeys(form) {
  if (!supported()) return;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    makeInBrowser(form).catch((error) => {
      say(form, words("nothing", { error: error.message }), "error");
    }).finally(() => { button.disabled = false; });
  });
}

// The server-side key generation answers the .p12 itself; fetched here so that the page after the download
// can follow. Anything but a file (an error page, a pending request's redirect) is left to the browser.
function setUpDownloadForm(form) {
  if (!window.fetch || !window.Blob) return;
  form.addEventListener("submit", async (event) => {
    if (form.dataset.native === "1") return;
    event.preventDefault();
    const response = await fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" });
    const disposition = response.headers.get("Content-Disposition") || "";
    const name = /filename="([^"]+)"/.exec(disposition);
    if (!response.ok || !name) {
      if (response.ok && response.redirected) {
        window.location.assign(response.url);
        return;
      }
      form.dataset.native = "1";  // the server's own answer (its error message): a bad form changes nothing
      form.requestSubmit();
      return;
    }
    offerDownload(await response.arrayBuffer(), name[1], response.headers.get("Content-Type") || "application/octet-stream");
    clearPasswords(form);
    window.location.assign(doneUrl(form.dataset.doneUrl, null, form.dataset.kind || "server"));
  });
}

function systemOf(agent) {
  if (/Firefox\//.test(agent)) return "firefox";
  if (/Windows/.test(agent)) return "windows";
  if (/Mac OS X|Macintosh/.test(agent)) return "macos";
  return "linux";
}

function setUpInstallSteps(root) {
  const show = (system) => {
    for (const section of root.querySelectorAll("[data-system]")) section.hidden = section.dataset.system !== system;
    for (const button of root.querySelectorAll("[data-show]")) {
      button.setAttribute("aria-pressed", String(button.dataset.show === system));
    }
  };
  for (const button of root.querySelectorAll("[data-show]")) {
    button.hidden = false;
    button.addEventListener("click", () => show(button.dataset.show));
  }
  show(systemOf(navigator.userAgent));
}

// Offered (first) only where this browser can make the key: without WebCrypto the card stays hidden.
if (supported()) document.querySelectorAll("[data-browser-keys-card]").forEach((card) => { card.hidden = false; });
document.querySelectorAll("form[data-browser-keys]").forEach(setUpBrowserKeys);
document.querySelectorAll("form[data-download-form]").forEach(setUpDownloadForm);
document.querySelectorAll("[data-install-steps]").forEach(setUpInstallSteps);
