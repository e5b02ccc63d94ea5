# The example MCP authorization policy for mcp-gateway.
#
# Entry points (compiled to WASM by `mcp-gateway policy build`):
#   data.mcp.authz.decision       one JSON-RPC message: may it pass? (an object; see policies/README.md)
#   data.mcp.authz.visible        may input.list_item appear in a list result?
#   data.mcp.authz.visible_names  the names of input.list_items that may appear (one evaluation per list)
#
# Listing and calling share one rule, may_use(kind, name): a caller can call exactly
# the tools it can see. Argument rules then narrow what a visible tool may be called with.
package mcp.authz

# ---- who may use what ---------------------------------------------------------

# Tools each group may see and call: exact names, or a prefix ending in "*" ("get-*";
# "*" alone is every tool). Prefixes rather than glob.match: WASM compiles a glob on
# every call, which costs microseconds per tool when filtering long lists.
group_tools := {
	"admin": ["*"],
	"analyst": ["query-*", "get-*", "run-sql", "read-file"],
	"finance": ["get-*", "make-payment"],
}

# Tools every authenticated caller may use.
public_tools := {"echo"}

# Files read-file may read: this prefix (with its trailing "/"), no ".." segments.
file_root := "/srv/data/"

# Payments must stay strictly below this amount.
payment_limit := 1000

authenticated if {
	input.identity.method != "anonymous"
	input.identity.subject != ""
}

# Prompts and resources: any authenticated caller.
may_use(kind, _) if {
	authenticated
	kind != "tool"
}

may_use("tool", name) if {
	authenticated
	name in public_tools
}

may_use("tool", name) if {
	authenticated
	some group in input.identity.groups
	some pattern in group_tools[group]
	matches(pattern, name)
}

matches(pattern, name) if pattern == name

matches(pattern, name) if {
	endswith(pattern, "*")
	startswith(name, trim_suffix(pattern, "*"))
}

# ---- list filtering -----------------------------------------------------------

default visible := false

visible if may_use(input.list_item.kind, input.list_item.name)

visible_names contains item.name if {
	some item in input.list_items
	may_use(item.kind, item.name)
}

# ---- the decision -------------------------------------------------------------

default decision := {"allowed": false, "reasons": ["no rule produced a decision"]}

decision := {"allowed": true, "reasons": [], "redact": sort(redact)} if count(deny) == 0

decision := {
	"allowed": false,
	"reasons": reasons,
	"error_message": concat("; ", reasons),
	"redact": sort(redact),
} if {
	count(deny) > 0
	reasons := sort(deny)
}

# Argument keys the audit trail must not record for this message.
redact contains key if {
	input.mcp.tool == "make-payment"
	some key in {"card_number", "cvv"}
}

deny contains "caller is not authenticated" if not authenticated

deny contains msg if {
	authenticated
	target := input.mcp.target
	is_object(target)
	not may_use(target.kind, target.name)
	msg := concat("", [target.kind, " \"", target.name, "\" is not available to ", input.identity.subject])
}

# ---- requests upstreams send to the caller -----------------------------------

# input.mcp.direction is "server_to_client" for sampling/createMessage, elicitation/create
# and roots/list that an upstream sends; a denied one never reaches the client. Only these
# servers may ask the caller's model for a completion (sampling); elicitation and roots pass.
sampling_servers := {"everything", "assistant"}

deny contains msg if {
	input.mcp.direction == "server_to_client"
	input.mcp.method == "sampling/createMessage"
	not input.server.name in sampling_servers
	msg := concat("", ["server \"", input.server.name, "\" may not ask for sampling"])
}

# ---- argument rules -----------------------------------------------------------

# The arguments of a tools/call of `tool` (an empty object when absent or not an object).
# Read them with object.get(args, key, null): `not is_string(args.query)` is undefined,
# not true, when "query" is missing, so a rule written that way would let the call pass.
call_args(tool) := args if {
	input.mcp.method == "tools/call"
	input.mcp.tool == tool
	args := object_or_empty(input.mcp.arguments)
}

object_or_empty(x) := x if is_object(x)

object_or_empty(x) := {} if not is_object(x)

# run-sql: one read-only statement.

write_keywords := {
	"alter", "attach", "call", "copy", "create", "delete", "detach", "do", "drop", "exec", "execute",
	"grant", "insert", "into", "load", "lock", "merge", "pragma", "reindex", "rename", "replace",
	"revoke", "set", "truncate", "update", "upsert", "vacuum",
}

deny contains `run-sql: "query" must be a string` if {
	args := call_args("run-sql")
	not is_string(object.get(args, "query", null))
}

sql_query := q if {
	q := call_args("run-sql").query
	is_string(q)
}

# The query's words, lower-cased: split on anything but ASCII letters, digits and "_", so
# "last_update" is one word and "1;DROP" two. (Plain string builtins and one split rather
# than RE2 patterns: WASM compiles each regex on every evaluation, tens of µs apiece.)
sql_words := [w | some w in regex.split(`[^a-z0-9_]+`, lower(sql_query)); w != ""]

read_only_start if sql_words[0] in {"select", "with", "explain"}

deny contains "run-sql: only read-only statements (SELECT, WITH, EXPLAIN) are allowed" if {
	is_string(sql_query)
	not read_only_start
}

# One trailing ";" ends a statement; any other ";" starts another one.
deny contains `run-sql: statements may not be chained with ";"` if {
	contains(trim_suffix(trim_space(sql_query), ";"), ";")
}

deny contains "run-sql: SQL comments are not allowed" if {
	some marker in ["--", "/*"]
	contains(sql_query, marker)
}

deny contains msg if {
	some word in sql_words
	word in write_keywords
	msg := concat("", ["run-sql: ", upper(word), " is not allowed in a read-only query"])
}

# read-file: only below file_root, never through "..".

deny contains `read-file: "path" must be a string` if {
	args := call_args("read-file")
	not is_string(object.get(args, "path", null))
}

deny contains concat("", ["read-file: path must be under ", file_root]) if {
	path := call_args("read-file").path
	is_string(path)
	not startswith(path, file_root)
}

deny contains `read-file: ".." path segments are not allowed` if {
	path := call_args("read-file").path
	is_string(path)
	some segment in split(replace(path, "\\", "/"), "/")
	segment == ".."
}

deny contains "read-file: backslashes and NUL characters are not allowed in paths" if {
	path := call_args("read-file").path
	is_string(path)
	regex.match(`[\\\x00]`, path)
}

# make-payment: a positive number below payment_limit.

deny contains `make-payment: "amount" must be a number` if {
	args := call_args("make-payment")
	not is_number(object.get(args, "amount", null))
}

deny contains `make-payment: "amount" must be greater than 0` if {
	amount := call_args("make-payment").amount
	is_number(amount)
	amount <= 0
}

deny contains concat("", [`make-payment: "amount" must be less than `, format_int(payment_limit, 10)]) if {
	amount := call_args("make-payment").amount
	is_number(amount)
	amount >= payment_limit
}
