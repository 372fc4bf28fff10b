// Cross-language check with the reference Standard Webhooks library
// (npm standardwebhooks@1.1.1), driven by functions/local/crosslang_test.go.
//
//   node crosscheck.mjs sign   < {"cases":[{"secret","id","timestamp","payload_b64"}]}
//     → {"results":[{"signature"} | {"error"}]}
//   node crosscheck.mjs verify < {"cases":[{"secret","payload_b64","headers":{…}}]}
//     → {"results":[{"ok":true} | {"ok":false,"error"}]}
//
// Payloads travel as base64 so the exact bytes (including non-ASCII) reach
// the library as a Buffer, as a receiver's raw body would.
import { Webhook } from "standardwebhooks";

const mode = process.argv[2];
if (mode !== "sign" && mode !== "verify") {
  console.error("usage: node crosscheck.mjs sign|verify < cases.json");
  process.exit(2);
}

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { cases } = JSON.parse(input);

const results = cases.map((c) => {
  const payload = Buffer.from(c.payload_b64, "base64");
  try {
    const wh = new Webhook(c.secret);
    if (mode === "sign") {
      return { signature: wh.sign(c.id, new Date(c.timestamp * 1000), payload) };
    }
    wh.verify(payload, c.headers);
    return { ok: true };
  } catch (e) {
    return mode === "sign" ? { error: String(e.message) } : { ok: false, error: String(e.message) };
  }
});
process.stdout.write(JSON.stringify({ results }) + "\n");
