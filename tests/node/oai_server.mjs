// A small OpenAI-compatible completion server on llama.cpp (node-llama-cpp),
// for llmfs's remote-backend tests: POST /v1/completions with
// "stream": true answers server-sent events, one chunk per piece of text,
// greedy when temperature is 0 (generation stops at EOS and BOS, as
// llmfs's engine does), then a chunk with finish_reason and usage, then
// "data: [DONE]".  POST /v1/chat/completions does the same for "messages"
// (system, user, assistant), rendered by node-llama-cpp's chat wrapper for
// the model (its General wrapper for a model without a template), with
// chat.completion.chunk events whose choices[0].delta holds the text.
//
//   node oai_server.mjs --model FILE [--port N] [--api-key KEY] [--sequences N]
//
// Prints "listening PORT" on stdout once it serves (--port 0: any free
// port).  Faults, set at start (--delay-ms, --token-delay-ms, --hang,
// --fail, --cut-after N) or at any time with POST /control and a JSON
// body of the same names:
//   delay_ms        wait before answering each request
//   token_delay_ms  wait before each chunk
//   hang            accept requests and never answer them
//   fail            answer 503 with an OpenAI error body
//   cut_after       close the connection after N chunks (0: never)
// GET /stats gives {"requests": N, "completions": N} as JSON.
import http from "node:http";
import { getLlama, resolveChatWrapper, GeneralChatWrapper } from "node-llama-cpp";

const argv = process.argv.slice(2);
const opt = { port: 0, model: null, apiKey: null, sequences: 8 };
const faults = { delay_ms: 0, token_delay_ms: 0, hang: false, fail: false, cut_after: 0 };
for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--model") opt.model = argv[++i];
    else if (a === "--port") opt.port = Number(argv[++i]);
    else if (a === "--api-key") opt.apiKey = argv[++i];
    else if (a === "--sequences") opt.sequences = Number(argv[++i]);
    else if (a === "--delay-ms") faults.delay_ms = Number(argv[++i]);
    else if (a === "--token-delay-ms") faults.token_delay_ms = Number(argv[++i]);
    else if (a === "--hang") faults.hang = true;
    else if (a === "--fail") faults.fail = true;
    else if (a === "--cut-after") faults.cut_after = Number(argv[++i]);
    else { console.error(`oai_server: unknown argument ${a}`); process.exit(2); }
}
if (!opt.model) { console.error("usage: node oai_server.mjs --model FILE [--port N]"); process.exit(2); }

const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const model = await llama.loadModel({ modelPath: opt.model });
const ctxPerSeq = Math.min(model.trainContextSize || 512, 512);
const context = await model.createContext({
    contextSize: ctxPerSeq * opt.sequences, sequences: opt.sequences, threads: 1,
    flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32",
});
const free = [];
for (let i = 0; i < opt.sequences; i++) free.push(context.getSequence());
const waiters = [];
async function takeSeq() {
    if (free.length) return free.pop();
    return new Promise((res) => waiters.push(res));
}
function giveSeq(s) { if (waiters.length) waiters.shift()(s); else free.push(s); }

const counts = { requests: 0, completions: 0 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const endTokens = new Set([model.tokens.eos, model.tokens.bos, model.tokens.eot].filter((t) => t != null));

function errorReply(res, code, message, type) {
    res.writeHead(code, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { message, type, code } }));
}

// The longest suffix of text that begins some stop string: held back.
function heldBack(text, stops) {
    let keep = 0;
    for (const s of stops)
        for (let k = Math.min(s.length - 1, text.length); k > keep; k--)
            if (s.startsWith(text.slice(text.length - k))) { keep = k; break; }
    return keep;
}

const chatWrapper = resolveChatWrapper(model) ?? new GeneralChatWrapper();
const roles = { system: "system", user: "user", assistant: "model" };

// A chat request's tokens (BOS first) and the wrapper's plain-text stop
// triggers, or an error message.
function chatPrompt(messages) {
    if (!Array.isArray(messages) || !messages.length) return { error: "messages must be a non-empty array" };
    const history = [];
    for (const m of messages) {
        if (!m || !roles[m.role] || typeof m.content !== "string") return { error: "bad message" };
        history.push(m.role === "assistant" ? { type: "model", response: [m.content] }
            : { type: m.role, text: m.content });
    }
    const { contextText, stopGenerationTriggers } = chatWrapper.generateContextState({ chatHistory: history });
    const stops = stopGenerationTriggers.filter((t) => t.values.every((v) => typeof v === "string"))
        .map((t) => t.values.join("")).filter((t) => t.length);
    return { toks: contextText.tokenize(model.tokenizer), stops };
}

async function complete(req, res, body, chat) {
    let prompt = null, chatToks = null, chatStops = [];
    if (chat) {
        const c = chatPrompt(body.messages);
        if (c.error) return errorReply(res, 400, c.error, "invalid_request_error");
        chatToks = c.toks;
        chatStops = c.stops;
    } else {
        prompt = typeof body.prompt === "string" ? body.prompt : null;
        if (prompt === null) return errorReply(res, 400, "prompt must be a string", "invalid_request_error");
    }
    const maxTokens = Number.isInteger(body.max_tokens) ? body.max_tokens : 16;
    const temperature = typeof body.temperature === "number" ? body.temperature : 1;
    const stops = (Array.isArray(body.stop) ? body.stop : typeof body.stop === "string" ? [body.stop] : [])
        .concat(chatStops);
    const id = `cmpl-${counts.completions}`;
    let gone = false;
    res.on("close", () => { gone = true; });
    const seq = await takeSeq();
    try {
        const bos = model.tokens.bos;
        let promptToks = chat ? (chatToks[0] === bos ? chatToks.slice(1) : chatToks) : model.tokenize(prompt);
        const toks = chat ? chatToks : model.tokens.shouldPrependBosToken && bos != null
            ? [bos, ...promptToks] : promptToks;
        if (toks.length + maxTokens > ctxPerSeq && toks.length >= ctxPerSeq)
            return errorReply(res, 400, "prompt longer than the context", "invalid_request_error");
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
        const base = model.detokenize(promptToks);
        const gen = [];
        let sent = 0, chunks = 0, finish = "length", text = "";
        const chunk = (t, fr) => {
            const c = chat
                ? { id, object: "chat.completion.chunk", created: Math.floor(Date.now() / 1000), model: body.model ?? "",
                    choices: [{ index: 0, delta: chunks ? (fr ? {} : { content: t }) : { role: "assistant", content: t },
                        logprobs: null, finish_reason: fr }] }
                : { id, object: "text_completion", created: Math.floor(Date.now() / 1000), model: body.model ?? "",
                    choices: [{ index: 0, text: t, logprobs: null, finish_reason: fr }] };
            if (fr) c.usage = { prompt_tokens: toks.length, completion_tokens: gen.length, total_tokens: toks.length + gen.length };
            res.write(`data: ${JSON.stringify(c)}\n\n`);
            chunks++;
        };
        await seq.clearHistory();
        const sampling = temperature > 0
            ? { temperature, topK: body.top_k ?? 40, topP: body.top_p ?? 0.95, minP: body.min_p ?? 0, seed: body.seed ?? 0 }
            : { temperature: 0 };
        if (maxTokens > 0) {
            for await (const t of seq.evaluate(toks, sampling)) {
                if (gone) break;
                if (!body.ignore_eos && endTokens.has(t)) { finish = "stop"; break; }
                gen.push(t);
                text = model.detokenize([...promptToks, ...gen]).slice(base.length);
                let end = text.length;
                let stopAt = -1;
                for (const s of stops) { const k = text.indexOf(s); if (k >= 0 && (stopAt < 0 || k < stopAt)) stopAt = k; }
                if (stopAt >= 0) { end = stopAt; finish = "stop"; }
                else {
                    if (text.endsWith("\ufffd")) end = text.lastIndexOf("\ufffd");   // a character split across tokens
                    end -= heldBack(text.slice(0, end), stops);
                }
                if (end > sent) {
                    if (faults.token_delay_ms) await sleep(faults.token_delay_ms);
                    if (faults.cut_after && chunks >= faults.cut_after) { res.socket?.destroy(); gone = true; break; }
                    chunk(text.slice(sent, end), null);
                    sent = end;
                }
                if (stopAt >= 0 || gen.length >= maxTokens) break;
            }
        }
        if (gone) return;
        if (finish !== "stop" && sent < text.length) chunk(text.slice(sent), null);
        chunk("", finish);
        res.write("data: [DONE]\n\n");
        res.end();
        counts.completions++;
    } finally {
        giveSeq(seq);
    }
}

const server = http.createServer((req, res) => {
    let data = "";
    req.on("data", (d) => { data += d; if (data.length > (8 << 20)) req.destroy(); });
    req.on("end", async () => {
        try {
            if (req.method === "POST" && req.url === "/control") {
                Object.assign(faults, JSON.parse(data || "{}"));
                res.writeHead(200, { "content-type": "application/json" });
                return res.end(JSON.stringify(faults));
            }
            if (req.method === "GET" && req.url === "/stats") {
                res.writeHead(200, { "content-type": "application/json" });
                return res.end(JSON.stringify(counts));
            }
            const chat = req.url === "/v1/chat/completions";
            if (req.method !== "POST" || (req.url !== "/v1/completions" && !chat))
                return errorReply(res, 404, `no route ${req.method} ${req.url}`, "not_found");
            counts.requests++;
            if (opt.apiKey && req.headers.authorization !== `Bearer ${opt.apiKey}`)
                return errorReply(res, 401, "invalid api key", "authentication_error");
            if (faults.hang) return;   // never answered
            if (faults.delay_ms) await sleep(faults.delay_ms);
            if (faults.fail) return errorReply(res, 503, "overloaded (fault switch)", "server_error");
            let body;
            try { body = JSON.parse(data); } catch { return errorReply(res, 400, "invalid JSON", "invalid_request_error"); }
            if (body.stream !== true) return errorReply(res, 400, "this test server only streams", "invalid_request_error");
            await complete(req, res, body, chat);
        } catch (e) {
            if (!res.headersSent) errorReply(res, 500, String(e), "server_error");
            else res.destroy();
        }
    });
});
server.keepAliveTimeout = 30000;
server.listen(opt.port, "127.0.0.1", () => {
    console.log(`listening ${server.address().port}`);
});
const stop = async () => { server.close(); process.exit(0); };
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
