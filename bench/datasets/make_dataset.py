#!/usr/bin/env python3
"""Generates a realistic JSON Lines fine-tuning dataset (standard library only).

Usage: make_dataset.py [--format chatml|sharegpt|alpaca|dpo|text] [--megabytes N] [--seed S] OUT

Writes whole records until the file holds at least N * 10^6 bytes. Texts are
English-like words with punctuation, quotes, newlines and about 2% non-ASCII
words (accents, CJK, emoji); about 1 record in 10 is written with
ensure_ascii so \\uXXXX escapes (and surrogate pairs) appear too.
Deterministic for a given seed (and Python version).
"""
import argparse, json, random

WORDS = (
    "the of and to in is that for it as was with be by on not he this are or his from at which but have an they you "
    "were her she there been one all we their has would when if so no will more can about what up said out into "
    "model data training example answer question explain because however before after system value function "
    "return error result simple process between number people through always different important following "
    "language python swift server request response token learning rate batch gradient loss epoch layer weight "
    "summary describe write short story poem recipe translate review please thanks sure here first second then"
).split()
NON_ASCII = "café über naïve résumé Straße déjà señor 中文 日本語 한국어 привет 😀 🚀 👍🏽 ✓ — “quoted”".split()
SYSTEM_PROMPTS = (
    "You are a helpful assistant.",
    "You are a concise assistant. Answer in one paragraph.",
    "Tu es un assistant serviable. Réponds en français.",
    "You are an expert programmer who explains code clearly.",
)


def build_tokens():
    """A weighted token list: plain words, with punctuation, quoted, newlines, ~2% non-ASCII."""
    tokens = []
    for word in WORDS:
        tokens += [word] * 6 + [word + ",", word + ".", word.capitalize(), f'"{word}"' if len(word) > 4 else word + "?"]
    ascii_count = len(tokens)
    tokens += ["\n"] * (ascii_count // 60) + ["\n\n", "(e.g.", "etc.)", "don't", "it's", "50%", "x = 1;", "a\\b", "C:\\tmp"]
    share = round(len(tokens) * 0.02 / 0.98)
    tokens += (NON_ASCII * (share // len(NON_ASCII) + 1))[:share]
    return tokens


class Generator:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.tokens = build_tokens()

    def text(self, low=40, high=90):
        words = self.rng.choices(self.tokens, k=self.rng.randint(low, high))
        text = " ".join(words).replace(" \n ", "\n")
        return text[:1].upper() + text[1:]

    def turns(self):
        """(role, text) pairs: maybe a system turn, then user/assistant alternating, ending with assistant."""
        turns = [("system", self.rng.choice(SYSTEM_PROMPTS))] if self.rng.random() < 0.3 else []
        for _ in range(self.rng.randint(1, 4)):
            turns += [("user", self.text(10, 50)), ("assistant", self.text())]
        if self.rng.random() < 0.05:  # an occasional tool round inside the conversation
            turns[-1:-1] = [("tool", '{"result": ' + json.dumps(self.text(3, 8)) + "}")]
        return turns

    def record(self, fmt):
        if fmt == "chatml":
            return {"messages": [{"role": role, "content": text} for role, text in self.turns()]}
        if fmt == "sharegpt":
            names = {"system": "system", "user": "human", "assistant": "gpt", "tool": "tool"}
            return {"conversations": [{"from": names[role], "value": text} for role, text in self.turns()]}
        if fmt == "alpaca":
            return {"instruction": self.text(8, 30), "input": self.text(5, 40) if self.rng.random() < 0.5 else "", "output": self.text()}
        if fmt == "dpo":
            return {"prompt": self.text(10, 40), "chosen": self.text(), "rejected": self.text(20, 60)}
        return {"text": self.text(80, 200)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=("chatml", "sharegpt", "alpaca", "dpo", "text"), default="chatml")
    parser.add_argument("--megabytes", type=float, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("out")
    args = parser.parse_args()
    generator = Generator(args.seed)
    target = int(args.megabytes * 1_000_000)
    written = records = 0
    with open(args.out, "wb") as out:
        while written < target:
            ascii_only = generator.rng.random() < 0.1
            line = (json.dumps(generator.record(args.format), ensure_ascii=ascii_only) + "\n").encode("utf-8")
            out.write(line)
            written += len(line)
            records += 1
    print(f"wrote {records} {args.format} records, {written} bytes to {args.out}")


if __name__ == "__main__":
    main()
