# `opa test policies/` — every rule of authz.rego, with near misses: for each rule one
# input that passes and a near-identical one that does not.
package mcp.authz_test

import data.mcp.authz

# ---- fixtures -------------------------------------------------------------------

caller(groups) := {
	"subject": "alice",
	"issuer": "https://idp.example.com",
	"groups": groups,
	"scopes": [],
	"claims": {},
	"method": "jwt",
}

anonymous := {"subject": "", "issuer": null, "groups": [], "scopes": [], "claims": {}, "method": "anonymous"}

base(identity) := {
	"attributes": {
		"request": {"http": {"method": "POST", "path": "/mcp/demo", "host": "gw.example.com", "headers": {}}},
		"source": {"address": "10.0.0.7:51234"},
	},
	"identity": identity,
	"server": {"name": "demo"},
	"mcp": {
		"protocol_version": "2025-11-25", "method": "ping", "kind": "request", "request_id": 1,
		"session_id": null, "tool": null, "prompt": null, "resource": null, "target": null, "arguments": null,
		"direction": "client_to_server",
	},
}

message(identity, method, target, args) := object.union(base(identity), {"mcp": object.union(base(identity).mcp, {
	"method": method,
	"tool": tool_of(target),
	"target": target,
	"arguments": args,
})})

tool_of(target) := target.name if target.kind == "tool"

tool_of(target) := null if target.kind != "tool"

tool_of(null) := null

call(groups, tool, args) := message(caller(groups), "tools/call", {"kind": "tool", "name": tool}, args)

listing(identity, kind, name) := object.union(base(identity), {"list_item": {"kind": kind, "name": name, "item": {"name": name}}})

allowed(inp) if {
	authz.decision.allowed with input as inp
}

reasons(inp) := r if {
	r := authz.decision.reasons with input as inp
}

# ---- authentication -----------------------------------------------------------

test_authenticated_ping_allowed if allowed(base(caller([])))

test_anonymous_ping_denied if {
	not allowed(base(anonymous))
	reasons(base(anonymous)) == ["caller is not authenticated"]
}

test_empty_subject_denied if {
	not allowed(base(object.union(caller([]), {"subject": ""})))
}

test_anonymous_sees_nothing_not_even_echo if {
	not authz.visible with input as listing(anonymous, "tool", "echo")
	not authz.visible with input as listing(anonymous, "prompt", "greeting")
}

# ---- visibility by group --------------------------------------------------------

visibility_cases := [
	# groups, tool, visible
	[["admin"], "deploy-prod", true],
	[["admin"], "ns.tool/with:odd chars", true],
	[["analyst"], "query-sales", true],
	[["analyst"], "get-report", true],
	[["analyst"], "run-sql", true],
	[["analyst"], "run-sql2", false], # near miss: exact names are exact
	[["analyst"], "read-file", true],
	[["analyst"], "get", false], # near miss: no "-"
	[["analyst"], "xget-report", false], # near miss: glob is anchored
	[["analyst"], "Query-sales", false], # near miss: case matters
	[["analyst"], "make-payment", false],
	[["analyst"], "deploy-prod", false],
	[["finance"], "make-payment", true],
	[["finance"], "make-payments", false], # near miss
	[["finance"], "run-sql", false],
	[["finance", "analyst"], "run-sql", true], # any group suffices
	[["guest"], "echo", true],
	[[], "echo", true],
	[[], "echo2", false], # near miss
	[[], "get-report", false],
]

test_tool_visibility_by_group if {
	every case in visibility_cases {
		[groups, tool, want] := case
		got := authz.visible with input as listing(caller(groups), "tool", tool)
		got == want
	}
}

test_prompts_and_resources_visible_to_authenticated if {
	authz.visible with input as listing(caller([]), "prompt", "greeting")
	authz.visible with input as listing(caller([]), "resource", "file:///srv/a")
}

# Listing and calling can never disagree: the decision on a call matches visibility.
test_calling_agrees_with_listing if {
	every case in visibility_cases {
		[groups, tool, want] := case
		got := authz.visible with input as listing(caller(groups), "tool", tool)

		# Arguments that satisfy every argument rule, so only visibility decides.
		args := {"query": "SELECT 1", "path": "/srv/data/a", "amount": 1}
		allowed_call := authz.decision.allowed with input as call(groups, tool, args)
		allowed_call == got
		got == want
	}
}

test_hidden_tool_denied_with_reason if {
	reasons(call(["analyst"], "deploy-prod", {})) == [`tool "deploy-prod" is not available to alice`]
}

test_hidden_prompt_for_anonymous_denied if {
	inp := message(anonymous, "prompts/get", {"kind": "prompt", "name": "greeting"}, {})
	not allowed(inp)
	reasons(inp) == ["caller is not authenticated"]
}

test_visible_names_is_one_evaluation_of_the_same_rule if {
	items := [
		{"kind": "tool", "name": "echo", "item": {}},
		{"kind": "tool", "name": "get-report", "item": {}},
		{"kind": "tool", "name": "run-sql", "item": {}},
		{"kind": "tool", "name": "deploy-prod", "item": {}},
		{"kind": "tool", "name": "make-payment", "item": {}},
	]
	names := authz.visible_names with input as object.union(base(caller(["analyst"])), {"list_items": items})
	names == {"echo", "get-report", "run-sql"}
}

test_visible_names_empty_for_anonymous if {
	count(authz.visible_names) == 0 with input as object.union(base(anonymous), {"list_items": [{"kind": "tool", "name": "echo", "item": {}}]})
}

# ---- run-sql --------------------------------------------------------------------

sql(query) := call(["analyst"], "run-sql", {"query": query})

test_sql_read_only_statements_allowed if {
	allowed(sql("SELECT * FROM orders"))
	allowed(sql("select id from orders where id = 1"))
	allowed(sql("  sElEcT 1"))
	allowed(sql("WITH t AS (SELECT 1) SELECT * FROM t"))
	allowed(sql("EXPLAIN SELECT * FROM orders"))
	allowed(sql("SELECT 1;")) # one trailing semicolon is not chaining
	allowed(sql("SELECT 1 ;  \n"))
	allowed(sql("SELECT last_update, updated_at FROM orders")) # keywords only as whole words
}

test_sql_writes_refused if {
	reasons(sql("UPDATE orders SET paid = true")) == [
		"run-sql: SET is not allowed in a read-only query",
		"run-sql: UPDATE is not allowed in a read-only query",
		"run-sql: only read-only statements (SELECT, WITH, EXPLAIN) are allowed",
	]
	reasons(sql("delete from orders")) == [
		"run-sql: DELETE is not allowed in a read-only query",
		"run-sql: only read-only statements (SELECT, WITH, EXPLAIN) are allowed",
	]
	not allowed(sql("DROP TABLE orders"))
	not allowed(sql("GRANT ALL ON orders TO bob"))
	not allowed(sql("insert into t values (1)"))
}

test_sql_write_hidden_in_a_read_statement_refused if {
	reasons(sql("WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d")) == ["run-sql: DELETE is not allowed in a read-only query"]
	reasons(sql("SELECT * INTO backup FROM orders")) == ["run-sql: INTO is not allowed in a read-only query"]
	reasons(sql("EXPLAIN ANALYZE Alter TABLE orders ADD x int")) == ["run-sql: ALTER is not allowed in a read-only query"]
}

test_sql_chaining_refused if {
	allowed(sql("SELECT 1;"))
	reasons(sql("SELECT 1; SELECT 2")) == [`run-sql: statements may not be chained with ";"`]
	not allowed(sql("SELECT 1;DROP TABLE orders"))
	not allowed(sql("SELECT 1;;"))
}

test_sql_comments_refused if {
	allowed(sql("SELECT 1 - 1"))
	reasons(sql("SELECT 1 -- 1")) == ["run-sql: SQL comments are not allowed"]
	not allowed(sql("SELECT /* x */ 1"))
}

test_sql_first_word_must_be_read_only if {
	allowed(sql("(SELECT 1)"))
	reasons(sql("")) == ["run-sql: only read-only statements (SELECT, WITH, EXPLAIN) are allowed"]
	not allowed(sql(" \n\t"))
	not allowed(sql("select1")) # near miss: a longer word, not SELECT
	not allowed(sql("SHOW TABLES"))
}

test_sql_keywords_are_whole_words if {
	allowed(sql("SELECT dropped_at, settings, created FROM t"))
	reasons(sql("SELECT 1 FROM t;DROP TABLE t")) == [
		"run-sql: DROP is not allowed in a read-only query",
		`run-sql: statements may not be chained with ";"`,
	]
	reasons(sql("SELECT (1)Drop")) == ["run-sql: DROP is not allowed in a read-only query"]
}

test_sql_query_must_be_a_string if {
	reasons(sql(["SELECT 1"])) == [`run-sql: "query" must be a string`]
	reasons(call(["analyst"], "run-sql", {})) == [`run-sql: "query" must be a string`]
	reasons(call(["analyst"], "run-sql", null)) == [`run-sql: "query" must be a string`]
	reasons(call(["analyst"], "run-sql", "SELECT 1")) == [`run-sql: "query" must be a string`]
}

test_sql_rules_bind_admins_too if {
	not allowed(call(["admin"], "run-sql", {"query": "DROP TABLE orders"}))
	allowed(call(["admin"], "run-sql", {"query": "SELECT 1"}))
}

test_sql_rules_only_for_run_sql if {
	allowed(call(["admin"], "run-sql-admin", {"query": "DROP TABLE orders"}))
}

# ---- read-file ------------------------------------------------------------------

file(path) := call(["analyst"], "read-file", {"path": path})

test_file_under_root_allowed if {
	allowed(file("/srv/data/reports/q1.csv"))
	allowed(file("/srv/data/..hidden")) # a name starting with "..", not a ".." segment
	allowed(file("/srv/data/a..b/c"))
}

test_file_outside_root_refused if {
	reasons(file("/srv/database/secrets")) == ["read-file: path must be under /srv/data/"] # prefix must end at "/"
	not allowed(file("/srv/data")) # the root itself, without "/"
	not allowed(file("srv/data/x"))
	not allowed(file("/etc/passwd"))
}

test_file_dotdot_refused if {
	reasons(file("/srv/data/../../etc/passwd")) == [`read-file: ".." path segments are not allowed`]
	not allowed(file("/srv/data/a/.."))
	not allowed(file("/srv/data/a/../b"))
}

test_file_backslash_and_nul_refused if {
	not allowed(file(`/srv/data/..\..\etc\passwd`))
	reasons(file(`/srv/data/a\b`)) == ["read-file: backslashes and NUL characters are not allowed in paths"]
	not allowed(file("/srv/data/a\u0000.txt"))
}

test_file_path_must_be_a_string if {
	reasons(file(1)) == [`read-file: "path" must be a string`]
	reasons(call(["analyst"], "read-file", {"file": "/srv/data/a"})) == [`read-file: "path" must be a string`]
}

# ---- make-payment ---------------------------------------------------------------

pay(amount) := call(["finance"], "make-payment", {"amount": amount, "card_number": "4111111111111111"})

test_payment_below_limit_allowed if {
	allowed(pay(999.99))
	allowed(pay(1))
	allowed(pay(0.01))
}

test_payment_at_or_above_limit_refused if {
	reasons(pay(1000)) == [`make-payment: "amount" must be less than 1000`]
	not allowed(pay(1000.01))
	not allowed(pay(1e9))
}

test_payment_amount_must_be_positive if {
	reasons(pay(0)) == [`make-payment: "amount" must be greater than 0`]
	not allowed(pay(-5))
}

test_payment_amount_must_be_a_number if {
	reasons(pay("999")) == [`make-payment: "amount" must be a number`]
	not allowed(pay(null))
	not allowed(pay([1]))
	reasons(call(["finance"], "make-payment", {})) == [`make-payment: "amount" must be a number`]
}

test_payment_card_number_redacted if {
	authz.decision.redact == ["card_number", "cvv"] with input as pay(5)
	authz.decision.redact == ["card_number", "cvv"] with input as pay(5000) # denied calls are audited too
	authz.decision.redact == [] with input as call(["admin"], "echo", {"card_number": "x"})
}

# ---- the decision object ----------------------------------------------------------

test_allow_decision_shape if {
	authz.decision == {"allowed": true, "reasons": [], "redact": []} with input as call([], "echo", {"text": "hi"})
}

test_deny_decision_has_error_message if {
	d := authz.decision with input as pay(5000)
	d.allowed == false
	d.error_message == `make-payment: "amount" must be less than 1000`
}

test_every_deny_has_a_reason if {
	every inp in [base(anonymous), call([], "deploy", {}), sql("DROP TABLE x"), file("/etc"), pay(0)] {
		d := authz.decision with input as inp
		d.allowed == false
		count(d.reasons) > 0
	}
}

# ---- requests upstreams send to the caller -------------------------------------

server_request(server, method) := object.union(base(caller([])), {
	"server": {"name": server},
	"mcp": object.union(base(caller([])).mcp, {"method": method, "direction": "server_to_client"}),
})

test_sampling_from_a_listed_server_allowed if allowed(server_request("assistant", "sampling/createMessage"))

test_sampling_from_another_server_denied if {
	not allowed(server_request("demo", "sampling/createMessage"))
	reasons(server_request("demo", "sampling/createMessage")) == [`server "demo" may not ask for sampling`]
}

test_elicitation_and_roots_from_any_server_allowed if {
	allowed(server_request("demo", "elicitation/create"))
	allowed(server_request("demo", "roots/list"))
}

# The same method sent by a client is not a server request.
test_client_sampling_method_not_judged_as_server_request if {
	allowed(object.union(base(caller([])), {"mcp": object.union(base(caller([])).mcp, {"method": "sampling/createMessage"})}))
}
