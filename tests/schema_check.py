"""Validates YAML specs against `recsweep schema` with the jsonschema
package (Draft 7, as editors read it), and checks that a spec with an
unknown key fails (tests/schema.sh).

    python3 tests/schema_check.py SCHEMA.json SPEC.yaml... [--must-fail SPEC.yaml...]

Prints one line per spec and exits 1 naming each spec whose result is wrong.
"""

import json
import sys

import jsonschema
import yaml


def main():
    schema = json.load(open(sys.argv[1]))
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    wrong, must_fail, checked = [], False, 0
    for arg in sys.argv[2:]:
        if arg == "--must-fail":
            must_fail = True
            continue
        with open(arg) as f:
            spec = yaml.safe_load(f)
        errors = sorted(validator.iter_errors(spec), key=lambda e: list(e.absolute_path))
        checked += 1
        if must_fail and not errors:
            wrong.append(f"{arg}: valid, but it has an unknown key")
        elif not must_fail and errors:
            first = errors[0]
            where = "/".join(str(p) for p in first.absolute_path) or "(top)"
            wrong.append(f"{arg}: {where}: {first.message[:300]}")
    for line in wrong:
        print(line)
    if wrong:
        sys.exit(1)
    print(f"{checked} specs checked against the schema")


main()
