#!/usr/bin/env python3
"""Perplexity of a llama2.c checkpoint over a text, computed independently
of llmfs: llama2.c's tokenizer (run.c's encode: a dummy-prefix space, one
token per UTF-8 character or its bytes, then merges of the best-scoring
pair) and its forward pass (run.c), written here in double precision with
the standard library only; chunks as llama-perplexity cuts them (the
tokens with BOS first, each chunk with BOS in place of its first token, the
second half of each chunk scored).

    ppl_ref.py MODEL.bin TOKENIZER.bin TEXT CTX   ->  "tokens N" and "perplexity X"
"""
import math
import operator
import struct
import sys


def read_tokenizer(path, vocab_size):
    with open(path, "rb") as f:
        data = f.read()
    off = 4                                   # max_token_length
    words, scores = [], []
    for _ in range(vocab_size):
        score, n = struct.unpack_from("<fi", data, off)
        off += 8
        words.append(data[off:off + n])
        off += n
        scores.append(score)
    return words, scores


def encode(text, words, scores):
    lookup = {w: i for i, w in enumerate(words)}
    ids = [lookup[b" "]] if text else []
    for ch in text:
        b = ch.encode("utf-8")
        if b in lookup:
            ids.append(lookup[b])
        else:
            ids.extend(x + 3 for x in b)      # byte fallback: <0x00> is id 3
    while True:
        best, best_i = -1e10, -1
        for i in range(len(ids) - 1):
            j = lookup.get(words[ids[i]] + words[ids[i + 1]])
            if j is not None and scores[j] > best:
                best, best_i = scores[j], i
        if best_i < 0:
            return ids
        ids[best_i:best_i + 2] = [lookup[words[ids[best_i]] + words[ids[best_i + 1]]]]


def read_model(path):
    with open(path, "rb") as f:
        data = f.read()
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq = struct.unpack_from("<7i", data, 0)
    shared = vocab > 0
    vocab = abs(vocab)
    off = 28
    head = dim // n_heads
    kv_dim = n_kv * head

    def take(n):
        nonlocal off
        v = struct.unpack_from("<%df" % n, data, off)
        off += 4 * n
        return list(v)

    def mats(count, rows, cols):
        flat = take(count * rows * cols)
        return [[flat[(c * rows + r) * cols:(c * rows + r + 1) * cols] for r in range(rows)]
                for c in range(count)]

    m = {"dim": dim, "hidden": hidden, "layers": n_layers, "heads": n_heads, "kv": n_kv,
         "vocab": vocab, "head": head, "kv_dim": kv_dim}
    emb = take(vocab * dim)
    m["emb"] = [emb[i * dim:(i + 1) * dim] for i in range(vocab)]
    rms_att = take(n_layers * dim)
    m["wq"] = mats(n_layers, dim, dim)
    m["wk"] = mats(n_layers, kv_dim, dim)
    m["wv"] = mats(n_layers, kv_dim, dim)
    m["wo"] = mats(n_layers, dim, dim)
    rms_ffn = take(n_layers * dim)
    m["w1"] = mats(n_layers, hidden, dim)
    m["w2"] = mats(n_layers, dim, hidden)
    m["w3"] = mats(n_layers, hidden, dim)
    m["rms_att"] = [rms_att[i * dim:(i + 1) * dim] for i in range(n_layers)]
    m["rms_ffn"] = [rms_ffn[i * dim:(i + 1) * dim] for i in range(n_layers)]
    m["rms_final"] = take(dim)
    off += 2 * 4 * seq * head // 2            # freq_cis_real and _imag, unused
    m["wcls"] = m["emb"] if shared else [take(dim) for _ in range(vocab)]
    return m


def matvec(w, x):
    return [sum(map(operator.mul, row, x)) for row in w]


def rmsnorm(x, w):
    ss = sum(v * v for v in x) / len(x) + 1e-5
    s = 1.0 / math.sqrt(ss)
    return [v * s * g for v, g in zip(x, w)]


def chunk_logits(m, tokens):
    """Logits at every position of tokens (one sequence from position 0)."""
    L, dim, head, kv_dim = m["layers"], m["dim"], m["head"], m["kv_dim"]
    group = m["heads"] // m["kv"]
    kc = [[] for _ in range(L)]
    vc = [[] for _ in range(L)]
    out = []
    for pos, t in enumerate(tokens):
        x = list(m["emb"][t])
        for l in range(L):
            xb = rmsnorm(x, m["rms_att"][l])
            q, k, v = matvec(m["wq"][l], xb), matvec(m["wk"][l], xb), matvec(m["wv"][l], xb)
            for i in range(0, dim, 2):
                freq = 1.0 / 10000.0 ** ((i % head) / head)
                c, s = math.cos(pos * freq), math.sin(pos * freq)
                for vec in ((q, k) if i < kv_dim else (q,)):
                    a, b = vec[i], vec[i + 1]
                    vec[i], vec[i + 1] = a * c - b * s, a * s + b * c
            kc[l].append(k)
            vc[l].append(v)
            att_out = []
            for h in range(m["heads"]):
                qh = q[h * head:(h + 1) * head]
                ko = (h // group) * head
                sc = [sum(map(operator.mul, qh, kk[ko:ko + head])) / math.sqrt(head) for kk in kc[l]]
                mx = max(sc)
                e = [math.exp(z - mx) for z in sc]
                tot = sum(e)
                acc = [0.0] * head
                for a, vv in zip(e, vc[l]):
                    w = a / tot
                    for i in range(head):
                        acc[i] += w * vv[ko + i]
                att_out.extend(acc)
            x = [a + b for a, b in zip(x, matvec(m["wo"][l], att_out))]
            xb = rmsnorm(x, m["rms_ffn"][l])
            h1, h3 = matvec(m["w1"][l], xb), matvec(m["w3"][l], xb)
            hb = [a / (1.0 + math.exp(-a)) * b for a, b in zip(h1, h3)]
            x = [a + b for a, b in zip(x, matvec(m["w2"][l], hb))]
        out.append(matvec(m["wcls"], rmsnorm(x, m["rms_final"])))
    return out


def main():
    model_path, tok_path, text_path, ctx = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    m = read_model(model_path)
    words, scores = read_tokenizer(tok_path, m["vocab"])
    with open(text_path, encoding="utf-8") as f:
        ids = [1] + encode(f.read(), words, scores)    # BOS first, as llama-perplexity
    nll, n = 0.0, 0
    for c0 in range(0, len(ids) - ctx + 1, ctx):
        toks = [1] + ids[c0 + 1:c0 + ctx]           # BOS in place of the chunk's first
        logits = chunk_logits(m, toks)
        for j in range(ctx // 2, ctx - 1):
            row = logits[j]
            mx = max(row)
            nll += math.log(sum(math.exp(z - mx) for z in row)) + mx - row[ids[c0 + j + 1]]
            n += 1
    print("tokens %d" % len(ids))
    print("perplexity %.6f" % math.exp(nll / n))


if __name__ == "__main__":
    main()
