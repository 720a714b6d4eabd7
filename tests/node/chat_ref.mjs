// A chat template rendered by a Jinja implementation no one here wrote:
// @huggingface/jinja, which node-llama-cpp bundles.  Reads one JSON
// object on stdin,
//   {"template": "...", "bos_token": "<s>", "eos_token": "</s>",
//    "messages": [{"role": "system", "content": "..."}, ...],
//    "add_generation_prompt": true}
// and writes the rendering to stdout, byte for byte.  With
// "tokenize": "MODEL.gguf" it writes instead the token ids llama.cpp makes
// of the rendering for that model's vocabulary (and its own template when
// the request names none), as llama-server does: the
// template's leading BOS text taken off, special-token text parsed, BOS
// first when the vocabulary adds it.  Templates that
// insert today's date (strftime_now, date_string) get a fixed one,
// 26 Jul 2024, so the output never depends on the day.
import { Template } from "@huggingface/jinja";
import { getLlama } from "node-llama-cpp";

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
let model = null;
if (req.tokenize) {
    const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
    model = await llama.loadModel({ modelPath: req.tokenize, vocabOnly: true });
}
// no "template": the model's own tokenizer.chat_template
const template = req.template ?? model?.fileInfo?.metadata?.tokenizer?.chat_template;
const out = new Template(template).render({
    messages: req.messages,
    bos_token: req.bos_token ?? "",
    eos_token: req.eos_token ?? "",
    add_generation_prompt: req.add_generation_prompt ?? true,
    date_string: "26 Jul 2024",
});
if (!model) {
    process.stdout.write(out);
} else {
    const bos = req.bos_token ?? "";
    let toks = model.tokenize(bos && out.startsWith(bos) ? out.slice(bos.length) : out, true);
    if (model.tokens.shouldPrependBosToken && model.tokens.bos != null)
        toks = [model.tokens.bos, ...toks];
    process.stdout.write(toks.join(" ") + "\n");
    await model.dispose();
}
