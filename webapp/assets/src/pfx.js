// The password-protected PKCS#12 (RFC 7292) built in the page, with the same two encryptions as the server
// path (ca/x509/pkcs12.py):
// - modern: the key shrouded with PBES2 = PBKDF2-HMAC-SHA256 + AES-256-CBC (RFC 8018 §6.2, RFC 9579), the
//   MAC HMAC-SHA256 (RFC 7292 Appendix B key derivation) — pkijs, over WebCrypto;
// - legacy: pbeWithSHAAnd3-KeyTripleDES-CBC (RFC 7292 Appendix C) — node-forge, since WebCrypto has no
//   3DES — and a SHA-1 MAC, which macOS Keychain and older Windows import.
// Certificates are public: they sit in a plain SafeContents; the key bag and the leaf share a localKeyId
// and a friendlyName (RFC 7292 §4.2, PKCS#9) so that importers pair them.
import * as asn1js from "asn1js";
import forge from "node-forge/lib/forge.js";
import "node-forge/lib/pbe.js";
import * as pkijs from "pkijs";

export const ENCRYPTIONS = {
  modern: { kdfRounds: 600000, mac: "SHA-256", macRounds: 2048 },
  legacy: { kdfRounds: 2048, mac: "SHA-1", macRounds: 2048 },
};
const SHROUDED_KEY_BAG = "1.2.840.113549.1.12.10.1.2";
const CERT_BAG = "1.2.840.113549.1.12.10.1.3";
const X509_CERTIFICATE = "1.2.840.113549.1.9.22.1";
const FRIENDLY_NAME = "1.2.840.113549.1.9.20";
const LOCAL_KEY_ID = "1.2.840.113549.1.9.21";

function bagAttributes(localKeyId, friendlyName) {
  return [
    new pkijs.Attribute({ type: FRIENDLY_NAME, values: [new asn1js.BmpString({ value: friendlyName })] }),
    new pkijs.Attribute({ type: LOCAL_KEY_ID, values: [new asn1js.OctetString({ valueHex: localKeyId })] }),
  ];
}

function parse(der) {
  const parsed = asn1js.fromBER(der);
  if (parsed.offset === -1) throw new Error("cannot decode ASN.1");
  return parsed.result;
}

async function shroudedKey(pkcs8, password, encryption) {
  const rounds = ENCRYPTIONS[encryption].kdfRounds;
  if (encryption === "modern") {
    const bag = new pkijs.PKCS8ShroudedKeyBag({ parsedValue: pkijs.PrivateKeyInfo.fromBER(pkcs8) });
    await bag.makeInternalValues({
      password: new TextEncoder().encode(password).buffer,
      contentEncryptionAlgorithm: { name: "AES-CBC", length: 256 },
      hmacHashAlgorithm: "SHA-256",
      iterationCount: rounds,
    });
    return bag;
  }
  const keyInfo = forge.asn1.fromDer(forge.util.createBuffer(new Uint8Array(pkcs8)));
  const encrypted = forge.pki.encryptPrivateKeyInfo(keyInfo, password, { algorithm: "3des", count: rounds,
                                                                          saltSize: 16 });
  const der = forge.asn1.toDer(encrypted).getBytes();
  return new pkijs.PKCS8ShroudedKeyBag({ schema: parse(Uint8Array.from(der, (c) => c.charCodeAt(0)).buffer) });
}

function certBag(der, attributes) {
  return new pkijs.SafeBag({
    bagId: CERT_BAG,
    bagValue: new pkijs.CertBag({ certId: X509_CERTIFICATE, certValue: new asn1js.OctetString({ valueHex: der }) }),
    bagAttributes: attributes,
  });
}

/**
 * DER of a PFX holding the private key (a WebCrypto CryptoKey), the certificate and the CA chain (DER
 * ArrayBuffers), protected by `password` with `encryption` ("modern" | "legacy").
 */
export async function buildPfx({ privateKey, certificate, chain, password, encryption, friendlyName }) {
  const choice = ENCRYPTIONS[encryption];
  if (!choice) throw new Error(`unknown encryption ${encryption}`);
  if (!password) throw new Error("a PKCS#12 file needs a password");
  const localKeyId = await crypto.subtle.digest("SHA-1", certificate);
  const attributes = bagAttributes(localKeyId, friendlyName);
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", privateKey);
  const keyBag = new pkijs.SafeBag({ bagId: SHROUDED_KEY_BAG, bagValue: await shroudedKey(pkcs8, password, encryption),
                                     bagAttributes: attributes });
  const certificates = [certBag(certificate, attributes), ...chain.map((der) => certBag(der, undefined))];
  const pfx = new pkijs.PFX({
    parsedValue: {
      integrityMode: 0,
      authenticatedSafe: new pkijs.AuthenticatedSafe({
        parsedValue: {
          safeContents: [
            { privacyMode: 0, value: new pkijs.SafeContents({ safeBags: [keyBag] }) },
            { privacyMode: 0, value: new pkijs.SafeContents({ safeBags: certificates }) },
          ],
        },
      }),
    },
  });
  await pfx.parsedValue.authenticatedSafe.makeInternalValues({ safeContents: [{}, {}] });
  await pfx.makeInternalValues({
    password: new TextEncoder().encode(password).buffer,
    iterations: choice.macRounds,
    pbkdf2HashAlgorithm: choice.mac,
    hmacHashAlgorithm: choice.mac,
  });
  return pfx.toSchema().toBER(false);
}
