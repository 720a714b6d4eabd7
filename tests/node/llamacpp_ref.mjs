// llama.cpp as a live reference, through node-llama-cpp's prebuilt CPU
// library: for each GGUF named, greedy token ids and next-token
// probabilities.
//
//   node llamacpp_ref.mjs [-n N] [-t T] [-k K] [--ids 1,2,3 | -p PROMPT] MODEL.gguf...
//
// Per model, on stdout:
//   model PATH
//   prompt ID...          the prompt's tokens (BOS first when the vocabulary adds it)
//   top I ID P ID P ...   for the first T greedy steps (default 4), the K most
//                         probable next tokens and their probabilities
//   step I ID P           greedy token I (of N, default 64) and its probability
// Probabilities are the softmax of llama.cpp's raw logits, as
// node-llama-cpp computes them.  The full list costs ~65 ms a step on a
// 50k vocabulary (it is sorted and handed to JavaScript whole), hence only
// T steps of it; the greedy run asks for the chosen token's alone.
// Generation does not stop at end-of-sequence tokens.
import { getLlama } from "node-llama-cpp";

const argv = process.argv.slice(2);
let n = 64, t = 4, k = 8, prompt = "Once upon a time", ids = null;
const models = [];
for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-n") n = Number(argv[++i]);
    else if (a === "-t") t = Number(argv[++i]);
    else if (a === "-k") k = Number(argv[++i]);
    else if (a === "-p") prompt = argv[++i];
    else if (a === "--ids") ids = argv[++i].split(",").map(Number);
    else models.push(a);
}
if (!models.length || !(n > 0) || !(t >= 0) || !(k > 0)) {
    console.error("usage: node llamacpp_ref.mjs [-n N] [-t T] [-k K] [--ids 1,2,3 | -p PROMPT] MODEL.gguf...");
    process.exit(2);
}

// Greedy steps from toks, each yielding {token, probabilities?, confidence}.
async function* greedy(seq, toks, metadata, steps) {
    await seq.clearHistory();
    let i = 0;
    for await (const out of seq.evaluateWithMetadata(toks, metadata, { temperature: 0 })) {
        yield out;
        if (++i >= steps) break;
    }
}

const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
for (const path of models) {
    const model = await llama.loadModel({ modelPath: path });
    let toks = ids;
    if (!toks) {
        toks = model.tokenize(prompt);
        if (model.tokens.shouldPrependBosToken && model.tokens.bos != null)
            toks = [model.tokens.bos, ...toks];
    }
    // the KV cache in F32 (llama.cpp's default is F16) and attention
    // without the flash kernel (which rounds queries to F16): the
    // arithmetic of a plain F32 engine
    const context = await model.createContext({
        contextSize: toks.length + n + 8, threads: 1, flashAttention: false,
        experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32",
    });
    const seq = context.getSequence();
    const lines = [`model ${path}`, `prompt ${toks.join(" ")}`];
    let i = 0;
    for await (const out of greedy(seq, toks, { probabilities: true }, Math.min(t, n))) {
        const top = [];
        for (const [id, p] of out.probabilities) {
            if (top.length >= 2 * k) break;
            top.push(id, p.toPrecision(9));
        }
        lines.push(`top ${i++} ${top.join(" ")}`);
    }
    i = 0;
    for await (const out of greedy(seq, toks, { confidence: true }, n))
        lines.push(`step ${i++} ${out.token} ${out.confidence.toPrecision(9)}`);
    console.log(lines.join("\n"));
    await context.dispose();
    await model.dispose();
}
await llama.dispose();
