// The key pair (WebCrypto) and the PKCS#10 request (RFC 2986) signed with it, built by pkijs.
// The key is generated extractable because it must go into the .p12 (RFC 7292) built in this page; it lives
// only in this page's memory and is never sent: the request carries the public key and its signature.
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";

export const KEY_TYPES = {
  "ec-p256": { name: "ECDSA", namedCurve: "P-256" },
  "rsa-2048": { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]),
                hash: "SHA-256" },
};

export async function generateKeyPair(keyType) {
  const algorithm = KEY_TYPES[keyType];
  if (!algorithm) throw new Error(`unknown key type ${keyType}`);
  return crypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
}

// The subject is a placeholder: the portal writes the person's name and e-mail from the account (DESIGN §4).
export async function buildCsr(keyPair) {
  const request = new pkijs.CertificationRequest();
  request.subject.typesAndValues.push(new pkijs.AttributeTypeAndValue({
    type: "2.5.4.3", value: new asn1js.Utf8String({ value: "browser-generated key" }),
  }));
  request.attributes = [];  // RFC 2986 §4.1: attributes [0] is present even when empty (pkijs omits it otherwise)
  await request.subjectPublicKeyInfo.importKey(keyPair.publicKey);
  await request.sign(keyPair.privateKey, "SHA-256");
  return toPem(request.toSchema().toBER(false), "CERTIFICATE REQUEST");
}

export function toPem(der, label) {
  const bytes = new Uint8Array(der);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  const lines = btoa(binary).match(/.{1,64}/g).join("\n");
  return `-----BEGIN ${label}-----\n${lines}\n-----END ${label}-----\n`;
}
