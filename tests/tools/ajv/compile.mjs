// Compile each JSON Schema given on the command line with ajv (draft 2020-12) in strict mode, as editors
// and validators built on ajv do. Prints one line per schema; exits 1 when one does not compile.
import { readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

let failed = false;
for (const path of process.argv.slice(2)) {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  try {
    ajv.compile(JSON.parse(readFileSync(path, "utf8")));
    console.log(`ok ${path}`);
  } catch (error) {
    failed = true;
    console.log(`FAILED ${path}: ${error.message}`);
  }
}
process.exit(failed ? 1 : 0);
