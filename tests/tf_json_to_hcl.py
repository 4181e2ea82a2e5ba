"""cdk.tf.json rewritten as native Terraform syntax (HCL), so trivy reads it as Terraform would.

Why: trivy 0.76's Terraform scanner drops nested blocks written in JSON syntax. `image_scanning_configuration
= {scan_on_push = true}` in a .tf.json reads to trivy as no block at all (AWS-0030 "image scans disabled"),
and so do IMDSv2 `metadata_options`, ECS cluster `setting`, and every other block: its findings on
cdk.tf.json are wrong both ways. In JSON, an object is a block or a map attribute depending on the
provider's schema, so the conversion reads the real provider schema (`terraform providers schema -json`):
a key the schema names a block type becomes a block, anything else an attribute with the same value.
Strings stay quoted templates (`"${aws_vpc.main.id}"` means the same in both syntaxes), so references
survive and trivy can link resources (a bucket and its public-access block).
"""

from __future__ import annotations

import json
import re

COMMENT_KEY = "//"  # cdktf's metadata; a comment in Terraform's JSON syntax
REFERENCE = re.compile(r"^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)+$")  # depends_on / provider entries


class Unsupported(ValueError):
    """A construct the conversion does not handle; failing beats scanning something else."""


def expression(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return quoted_template(value)
    if isinstance(value, list):
        return "[" + ", ".join(expression(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {expression(v)}" for k, v in value.items() if k != COMMENT_KEY) + "}"
    raise Unsupported(f"value of type {type(value).__name__}")


# Escapes of the literal parts of an HCL quoted template; other control characters are written as \uNNNN
# (HCL has no \b or \f escape).
LITERAL_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quoted_template(text: str) -> str:
    """`text` (a JSON-syntax string: a template) as an HCL quoted template meaning the same.

    The literal parts are escaped; `${...}` and `%{...}` sequences are expressions and are copied verbatim:
    in Terraform's JSON syntax an interpolation is written as it is in native syntax (its own string
    literals keep their unescaped quotes: `${x == "a"}`), so escaping inside one would make it invalid.
    `$${` and `%%{` (literal `${`/`%{`) are the same escape in both syntaxes."""
    out, i = ['"'], 0
    while i < len(text):
        if text.startswith(("$${", "%%{"), i):
            out.append(text[i:i + 3])
            i += 3
        elif text.startswith(("${", "%{"), i):
            end = _expression_end(text, i + 2)
            out.append(text[i:end])
            i = end
        else:
            char = text[i]
            out.append(LITERAL_ESCAPES.get(char) or (f"\\u{ord(char):04x}" if ord(char) < 0x20 else char))
            i += 1
    return "".join(out) + '"'


def _expression_end(text: str, start: int) -> int:
    """Index just past the `}` closing the interpolation whose expression starts at `start`; string literals
    inside it (with their escapes and nested templates) are skipped, braces counted."""
    depth, i = 1, start
    while i < len(text):
        char = text[i]
        if char == '"':
            i = _string_end(text, i + 1)
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise Unsupported(f"unterminated interpolation in {text!r}")


def _string_end(text: str, start: int) -> int:
    """Index just past the `"` closing the string literal whose content starts at `start`."""
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text.startswith(("$${", "%%{"), i):
            i += 3
        elif text.startswith(("${", "%{"), i):
            i = _expression_end(text, i + 2)
        elif text[i] == '"':
            return i + 1
        else:
            i += 1
    raise Unsupported(f"unterminated string literal in {text!r}")


def reference(text: str, where: str) -> str:
    bare = text[2:-1] if text.startswith("${") and text.endswith("}") else text
    if not REFERENCE.match(bare):
        raise Unsupported(f"{where}: {text!r} is not a reference")
    return bare


def body(values: dict, schema: dict, where: str, indent: str) -> list[str]:
    lines: list[str] = []
    block_types = schema.get("block_types", {})
    for key, value in values.items():
        if key == COMMENT_KEY:
            continue
        if key == "dynamic":
            raise Unsupported(f"{where}: dynamic blocks")
        if key == "lifecycle":  # create_before_destroy, ignore_changes: no security check reads them
            continue
        if key == "depends_on":
            lines.append(f"{indent}depends_on = [{', '.join(reference(v, where) for v in value)}]")
        elif key == "provider" and "provider" not in schema.get("attributes", {}):
            lines.append(f"{indent}provider = {reference(value, where)}")
        elif key in block_types:
            for item in value if isinstance(value, list) else [value]:
                lines.append(f"{indent}{key} {{")
                lines += body(item, block_types[key]["block"], f"{where}.{key}", indent + "  ")
                lines.append(f"{indent}}}")
        else:
            lines.append(f"{indent}{key} = {expression(value)}")
    return lines


def convert(stack: dict, provider_schema: dict) -> str:
    """HCL for the resources, data sources and providers of `stack` (a parsed cdk.tf.json).

    `provider_schema`: one provider's entry of `terraform providers schema -json` (`provider`,
    `resource_schemas`, `data_source_schemas`). Outputs, variables and the terraform block carry no
    resource configuration and are left out.
    """
    lines: list[str] = []
    for name, configs in stack.get("provider", {}).items():
        for config in configs if isinstance(configs, list) else [configs]:
            lines += [f"provider {json.dumps(name)} {{",
                      *body(config, provider_schema["provider"]["block"], f"provider.{name}", "  "), "}"]
    for kind, schemas in (("resource", "resource_schemas"), ("data", "data_source_schemas")):
        for rtype, instances in stack.get(kind, {}).items():
            if rtype not in provider_schema[schemas]:
                raise Unsupported(f"{kind} {rtype}: not in the provider schema")
            schema = provider_schema[schemas][rtype]["block"]
            for name, config in instances.items():
                lines += [f"{kind} {json.dumps(rtype)} {json.dumps(name)} {{",
                          *body(config, schema, f"{rtype}.{name}", "  "), "}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python tests/tf_json_to_hcl.py cdk.tf.json schema.json > DIR/main.tf
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # conftest imports the `modules` package
    from conftest import PROVIDER_ADDR

    stack_file, schema_file = sys.argv[1:3]
    with open(stack_file) as stack, open(schema_file) as schema:
        sys.stdout.write(convert(json.load(stack), json.load(schema)["provider_schemas"][PROVIDER_ADDR]))
