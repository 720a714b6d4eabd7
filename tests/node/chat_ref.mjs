// A chat template rendered by a Jinja implementation no one here wrote:
// @huggingface/jinja, which node-llama-cpp bundles.  Reads one JSON
// object on stdin,
//   {"template": "...", "bos_token": "<s>", "eos_token": "</s>",
//    "messages": [{"role": "system", "content": "..."}, ...],
//    "add_generation_prompt": true}
// and writes the rendering to stdout, byte for byte.  Templates that
// insert today's date (strftime_now, date_string) get a fixed one,
// 26 Jul 2024, so the output never depends on the day.
import { Template } from "@huggingface/jinja";

let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) input += chunk;
const req = JSON.parse(input);
// The library's strftime_now reads the clock: stop it at the fixed day.
const RealDate = Date;
const fixed = RealDate.UTC(2024, 6, 26, 12);
globalThis.Date = class extends RealDate {
    constructor(...a) { if (a.length) super(...a); else super(fixed); }
    static now() { return fixed; }
};
const out = new Template(req.template).render({
    messages: req.messages,
    bos_token: req.bos_token ?? "",
    eos_token: req.eos_token ?? "",
    add_generation_prompt: req.add_generation_prompt ?? true,
    date_string: "26 Jul 2024",
});
process.stdout.write(out);
