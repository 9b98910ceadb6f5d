#!/usr/bin/env python3
"""Reference JSON Lines dataset validator (standard library only).

The straightforward Python baseline for the Swift `DatasetValidator`: same
rules, same messages, same report. Used to benchmark the Swift side and to
generate Tests/DatasetValidationTests/DatasetCorpus/expected.json (see make_expected.py).

Usage: reference_validator.py [--format chatml|sharegpt|alpaca|dpo|text|auto] FILE

Prints the report as JSON on stdout and `seconds=<float> mb_per_s=<float>`
(MB = 10^6 bytes; validation loop only) on stderr.
"""
import argparse, json, math, os, sys, time

FORMATS = ("chatml", "sharegpt", "alpaca", "dpo", "text")
MAX_REPORTED_ERRORS = 25
BOM = b"\xef\xbb\xbf"


def _reject_constant(name):
    raise ValueError(f"non-finite constant {name}")


# What json.loads(line, parse_constant=...) does per call, built once: NaN/Infinity/-Infinity are invalid JSON.
_decode = json.JSONDecoder(parse_constant=_reject_constant).decode


def type_name(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


# Each check returns (shape_matches, error message or None, input chars, output chars).

def check_conversation(obj, field, role_key, text_key, roles, answer):
    if field not in obj:
        return False, f"missing {field}", 0, 0
    turns = obj[field]
    if not isinstance(turns, list) or not turns:
        return True, f"{field} must be a non-empty array", 0, 0
    input_chars = output_chars = 0
    answered = False
    for index, turn in enumerate(turns):
        path = f"{field}[{index}]"
        if not isinstance(turn, dict):
            return True, f"{path} must be an object, not {type_name(turn)}", 0, 0
        role = turn.get(role_key)
        if not isinstance(role, str) or role not in roles:
            return True, f"{path}.{role_key} must be one of {', '.join(roles)}", 0, 0
        if text_key not in turn:
            return True, f"{path}.{text_key} must be a string (missing)", 0, 0
        text = turn[text_key]
        if not isinstance(text, str):
            return True, f"{path}.{text_key} must be a string (not {type_name(text)})", 0, 0
        if role == answer:
            answered = True
            output_chars += len(text)
        else:
            input_chars += len(text)
    if not answered:
        return True, f"{field} has no {answer} turn", 0, 0
    return True, None, input_chars, output_chars


def check_fields(obj, required, optional, inputs, outputs):
    shape = all(name in obj for name in required)
    input_chars = output_chars = 0
    for name in required + optional:
        value = obj.get(name)
        if value is None:  # absent or null
            if name in required:
                return shape, f"missing {name}", 0, 0
            continue
        if not isinstance(value, str):
            return shape, f"{name} must be a string, not {type_name(value)}", 0, 0
        if not value and name in required:
            return shape, f"{name} must not be empty", 0, 0
        if name in inputs:
            input_chars += len(value)
        if name in outputs:
            output_chars += len(value)
    return shape, None, input_chars, output_chars


CHECKS = {
    "chatml": lambda o: check_conversation(o, "messages", "role", "content", ("system", "user", "assistant", "tool"), "assistant"),
    "sharegpt": lambda o: check_conversation(o, "conversations", "from", "value", ("system", "human", "gpt", "tool"), "gpt"),
    "alpaca": lambda o: check_fields(o, ("instruction", "output"), ("input",), ("instruction", "input"), ("output",)),
    "dpo": lambda o: check_fields(o, ("prompt", "chosen", "rejected"), (), ("prompt",), ("chosen",)),
    "text": lambda o: check_fields(o, ("text",), (), (), ("text",)),
}


class Tally:
    def __init__(self):
        self.valid = self.shape_matches = self.error_count = 0
        self.input_chars = self.output_chars = 0
        self.errors = []

    def record(self, line, shape, error, input_chars, output_chars):
        if shape:
            self.shape_matches += 1
        if error is None:
            self.valid += 1
            self.input_chars += input_chars
            self.output_chars += output_chars
        else:
            self.error_count += 1
            if len(self.errors) < MAX_REPORTED_ERRORS:
                self.errors.append({"line": line, "message": f"Line {line}: {error}"})


def validate_lines(lines, fmt=None):
    """Validates an iterable of raw byte lines (as a binary file yields them). fmt None = detect."""
    formats = (fmt,) if fmt else FORMATS
    tallies = {name: Tally() for name in formats}
    examples = 0
    for number, raw in enumerate(lines, 1):
        if number == 1 and raw.startswith(BOM):
            raw = raw[3:]
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw.strip(b" \t"):
            continue  # blank: counted as a line, not an example
        examples += 1
        error = None
        try:
            obj = _decode(raw.decode("utf-8"))
            if not isinstance(obj, dict):
                error = f"expected a JSON object, not {type_name(obj)}"
        except UnicodeDecodeError:
            error = "invalid UTF-8"
        except (ValueError, RecursionError):
            error = "invalid JSON"
        if error is not None:
            for tally in tallies.values():
                tally.record(number, False, error, 0, 0)
        else:
            for name, tally in tallies.items():
                tally.record(number, *CHECKS[name](obj))
    return report(tallies, examples, fmt)


def report(tallies, examples, fmt):
    if fmt:
        chosen, confidence = fmt, "high"
    else:
        # max keeps the first of equals, so ties go to the earlier format in FORMATS.
        chosen = max(FORMATS, key=lambda name: (tallies[name].valid, tallies[name].shape_matches))
        share = tallies[chosen].shape_matches / examples if examples else 0
        confidence = "high" if share >= 0.9 else "medium" if share >= 0.6 else "low"
    tally = tallies[chosen]

    def average(total):  # rounded half away from zero to 1 decimal, like Swift's rounded()
        return math.floor(total / tally.valid * 10 + 0.5) / 10 if tally.valid else 0.0

    return {
        "valid": examples > 0 and tally.error_count == 0,
        "format": chosen,
        "detected_confidence": confidence,
        "total_examples": examples,
        "valid_examples": tally.valid,
        "error_count": tally.error_count,
        "errors": tally.errors,
        "stats": {
            "avg_input_chars": average(tally.input_chars),
            "avg_output_chars": average(tally.output_chars),
            "estimated_tokens": (tally.input_chars + tally.output_chars + 3) // 4,
        },
    }


def validate_file(path, fmt=None):
    """Returns (report, seconds of the validation loop)."""
    with open(path, "rb") as file:
        start = time.perf_counter()
        result = validate_lines(file, fmt)
        return result, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=FORMATS + ("auto",), default="auto")
    parser.add_argument("file")
    args = parser.parse_args()
    result, seconds = validate_file(args.file, None if args.format == "auto" else args.format)
    print(json.dumps(result))
    megabytes = os.path.getsize(args.file) / 1e6
    print(f"seconds={seconds:.6f} mb_per_s={megabytes / seconds if seconds > 0 else 0:.3f}", file=sys.stderr)


if __name__ == "__main__":
    main()
