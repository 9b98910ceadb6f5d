#!/usr/bin/env python3
"""Regenerates Tests/DatasetValidationTests/DatasetCorpus/expected.json from reference_validator.py.

Usage: make_expected.py [CORPUS_DIR]   (default: the repository's Tests/DatasetValidationTests/DatasetCorpus)

For every *.jsonl file (array.json is skipped: arrays are handled separately),
the auto-detected report, reduced to what the Swift corpus test compares.
"""
import json, os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from reference_validator import validate_file  # noqa: E402


def main():
    corpus = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "Tests", "DatasetValidationTests", "DatasetCorpus")
    expected = {}
    for name in sorted(os.listdir(corpus)):
        if not name.endswith(".jsonl"):
            continue
        report, _ = validate_file(os.path.join(corpus, name))
        expected[name] = {
            "valid": report["valid"],
            "format": report["format"],
            "detected_confidence": report["detected_confidence"],
            "total_examples": report["total_examples"],
            "valid_examples": report["valid_examples"],
            "error_count": report["error_count"],
            "error_lines": [error["line"] for error in report["errors"]],
            "first_error": report["errors"][0]["message"] if report["errors"] else None,
        }
    path = os.path.join(corpus, "expected.json")
    with open(path, "w") as out:
        json.dump(expected, out, indent=2)
        out.write("\n")
    print(f"wrote {len(expected)} entries to {os.path.normpath(path)}")


if __name__ == "__main__":
    main()
